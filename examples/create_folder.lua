-- Creates a folder in "My documents": lua5.4 examples/create_folder.lua "Reports 2026"
local onlyoffice = require "onlyoffice"

local title = arg[1] or "Reports"
local s = onlyoffice.assert(onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE") }))

local my = onlyoffice.assert(s:get("files/@my", { count = 1 }))
local folder, err = s:post("files/folder/" .. my.current.id, { title = title })
if folder == nil then
  io.stderr:write("cannot create the folder: ", err, "\n")
  os.exit(1)
end
print(("created folder %d %q in %d"):format(folder.id, folder.title, folder.parentId))
s:close()
