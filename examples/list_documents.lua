-- Lists "My documents" page by page with count/startIndex, for both portal
-- families: DocSpace puts `total` in the folder content, Workspace in the envelope.
local onlyoffice = require "onlyoffice"

local PAGE = 50

local s = assert(onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE") }))

local start, seen = 0, 0
repeat
  local content, info = s:get("files/@my", { count = PAGE, startIndex = start })
  if not content then
    io.stderr:write("listing failed: ", info, "\n")
    os.exit(1)
  end
  for _, folder in ipairs(content.folders) do
    print(("folder %-8s %s"):format(folder.id, folder.title))
  end
  for _, file in ipairs(content.files) do
    print(("file   %-8s %s"):format(file.id, file.title))
  end
  local shown = #content.folders + #content.files
  local total = content.total or info.total or 0
  seen, start = seen + shown, start + shown
until shown == 0 or seen >= total
print(("%d entries"):format(seen))
s:close()
