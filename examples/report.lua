-- A small user script, the kind examples/emulator_spec.lua tests against
-- onlyoffice.emulator: it lists the documents of "My documents" and uploads a
-- report of them there, as report.txt. As a module: report.run(url, user,
-- password) returns the uploaded entry, or nil and a message. As a script it
-- reads ONLYOFFICE_URL, ONLYOFFICE_USER and ONLYOFFICE_PASSWORD.
local onlyoffice = require "onlyoffice"

local M = {}

local function lines(s)
  local out = {}
  for entry in s:pages("files/@my") do
    if entry.fileExst then -- files only; folders have no extension field
      out[#out + 1] = ("%s\t%d bytes"):format(entry.title, entry.pureContentLength or 0)
    end
  end
  return out
end

function M.run(url, user, password)
  local s, err = onlyoffice.login(url, user, password)
  if not s then
    return nil, err
  end
  local ok, list = pcall(lines, s)
  if not ok then
    s:close()
    return nil, tostring(list)
  end
  local text = #list .. " documents\n" .. table.concat(list, "\n") .. (#list > 0 and "\n" or "")
  local entry, uerr = s:upload("@my", { data = text }, { name = "report.txt" })
  s:close()
  return entry, uerr
end

if arg and arg[0] and arg[0]:match("report%.lua$") then
  local entry, err = M.run(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"), os.getenv("ONLYOFFICE_PASSWORD"))
  if not entry then
    io.stderr:write("report failed: ", tostring(err), "\n")
    os.exit(1)
  end
  print(("uploaded report.txt as file %s"):format(entry.id))
end

return M
