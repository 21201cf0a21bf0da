-- Copies a folder into another one, with a progress line, through the portal's
-- asynchronous copy operation:  lua5.4 examples/copy_folder.lua FOLDER_ID DEST_FOLDER_ID
local onlyoffice = require "onlyoffice"

local folder, dest = tonumber(arg[1]), tonumber(arg[2])
if not folder or not dest then
  io.stderr:write("usage: copy_folder.lua FOLDER_ID DEST_FOLDER_ID\n")
  os.exit(2)
end

local s = onlyoffice.assert(onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE") }))

local op, err = s:operation("copy", {
  folderIds = { folder },
  fileIds = onlyoffice.array {}, -- an empty list, not an empty object
  destFolderId = dest,
  conflictResolveType = 2, -- keep both when names clash
}, {
  timeout = 600,
  progress = function(percent)
    io.stderr:write(("\rcopying %3d%%"):format(percent))
  end,
})
io.stderr:write("\n")
s:close()
if op == nil then
  io.stderr:write("copy failed: ", err, "\n")
  os.exit(1)
end
for _, copy in ipairs(op.folders or {}) do
  print(("copied folder %d into %d as folder %s"):format(folder, dest, tostring(copy.id)))
end
