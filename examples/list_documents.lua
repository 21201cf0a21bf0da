-- Lists every entry of "My documents", page by page: s:pages fetches pages of
-- `count` with startIndex until the listing's total is reached.
local onlyoffice = require "onlyoffice"

local s = onlyoffice.assert(onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE") }))

local ok, err = pcall(function()
  local n = 0
  for entry, index in s:pages("files/@my", nil, { count = 50 }) do
    -- Folders have no file extension field; files do.
    print(("%-6s %-8s %s"):format(entry.fileExst and "file" or "folder", entry.id, entry.title))
    n = index
  end
  print(("%d entries"):format(n))
end)
s:close()
if not ok then
  io.stderr:write("listing failed: ", tostring(err), "\n")
  os.exit(1)
end
