-- Uploads a file into "My documents" and downloads it back, with progress:
--   lua5.4 examples/upload_download.lua report.pdf copy-of-report.pdf
local onlyoffice = require "onlyoffice"

local source, target = arg[1], arg[2]
if not source or not target then
  io.stderr:write("usage: upload_download.lua SOURCE_FILE TARGET_FILE\n")
  os.exit(2)
end

local s = onlyoffice.assert(onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE") }))

local function progress(label)
  return function(done, total)
    io.stderr:write(("\r%s %d/%s bytes"):format(label, done, tostring(total)))
    if done == total then
      io.stderr:write("\n")
    end
  end
end

local my = onlyoffice.assert(s:get("files/@my", { count = 1 }))
local entry, err = s:upload(my.current.id, source, { progress = progress("upload") })
if entry == nil then
  io.stderr:write("upload failed: ", err, "\n")
  os.exit(1)
end
print(("uploaded %q as file %d (%d bytes)"):format(entry.title, entry.id, entry.pureContentLength))

local bytes, derr = s:download(entry.id, target, { progress = progress("download") })
if bytes == nil then
  io.stderr:write("download failed: ", derr, "\n")
  os.exit(1)
end
print(("downloaded %d bytes to %s"):format(bytes, target))
s:close()
