-- Downloads files and folders as one zip archive, which the portal builds in
-- an asynchronous operation:
--   lua5.4 examples/bulk_download.lua documents.zip 100001 100002 folder:2001
local onlyoffice = require "onlyoffice"

local target = arg[1]
local items = { files = {}, folders = {} }
for i = 2, #arg do
  local folder = arg[i]:match("^folder:(%d+)$")
  if folder then
    items.folders[#items.folders + 1] = tonumber(folder)
  elseif arg[i]:match("^%d+$") then
    items.files[#items.files + 1] = tonumber(arg[i])
  end
end
if not target or #items.files + #items.folders == 0 then
  io.stderr:write("usage: bulk_download.lua TARGET.zip FILE_ID... [folder:FOLDER_ID...]\n")
  os.exit(2)
end

local s = onlyoffice.assert(onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE") }))

local bytes, err = s:bulk_download(items, target, {
  progress = function(percent) io.stderr:write(("\rpacking     %3d%%"):format(percent)) end,
  transfer_progress = function(done, total)
    io.stderr:write(("\rdownloading %d/%s bytes"):format(done, tostring(total)))
  end,
})
io.stderr:write("\n")
s:close()
if bytes == nil then
  io.stderr:write("bulk download failed: ", err, "\n")
  os.exit(1)
end
print(("wrote %d bytes to %s"):format(bytes, target))
