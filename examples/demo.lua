-- The demo behind `./run demo`: logs in, shows who is logged in, walks the first
-- page of "My documents", creates a folder, uses an API key and copies a file
-- (emulator only), shows how failures look, logs out.
-- ./run points ONLYOFFICE_URL at the bundled emulator unless it is already set.
local onlyoffice = require "onlyoffice"

local url = assert(os.getenv("ONLYOFFICE_URL"), "set ONLYOFFICE_URL")
print(("onlyoffice %s, libcurl %s, %s"):format(onlyoffice._VERSION, onlyoffice.curl_version,
  jit and jit.version or _VERSION))
print("portal     " .. url)

local s, err, detail = onlyoffice.login(url, os.getenv("ONLYOFFICE_USER"), os.getenv("ONLYOFFICE_PASSWORD"),
  { code = os.getenv("ONLYOFFICE_CODE") })
if s == nil then
  print(err .. (detail.status and (" (HTTP " .. detail.status .. ")") or ""))
  os.exit(1)
end
print("session    " .. tostring(s) .. ", token expires " .. tostring(s:expires()))

local me = onlyoffice.assert(s:get("people/@self"))
print(("me         %s <%s>"):format(me.displayName, me.email))

local content, info = onlyoffice.assert(s:get("files/@my", { count = 5 }))
print(("my docs    %d of %s entries (HTTP %d)"):format(#content.folders + #content.files,
  tostring(content.total or info.total), info.status))
for _, f in ipairs(content.folders) do
  print(("  folder %-7d %s"):format(f.id, f.title))
end
for _, f in ipairs(content.files) do
  print(("  file   %-7d %s"):format(f.id, f.title))
end

-- On a real portal the demo only reads, unless ONLYOFFICE_DEMO_WRITE=1.
if os.getenv("ONLYOFFICE_EMULATOR") or os.getenv("ONLYOFFICE_DEMO_WRITE") == "1" then
  local folder, ferr = s:post("files/folder/" .. content.current.id,
    { title = "Demo " .. os.date("!%Y-%m-%d %H:%M") })
  print(folder and ("created    folder %d %q"):format(folder.id, folder.title) or ("create failed: " .. ferr))
end

-- DocSpace 3.x (emulator only): an API key with one scope, and a copy that runs
-- as an asynchronous operation, polled until it is done.
if os.getenv("ONLYOFFICE_EMULATOR") then
  local key, kerr = s:post("keys", { name = "demo", permissions = { "files:read" }, expiresInDays = 1 })
  if key then
    local ks = onlyoffice.session(url, key.key)
    local mine = onlyoffice.assert(ks:get("files/@my", { count = 1 }))
    local _, perr = ks:get("people/@self")
    print(("api key    sk-***%s reads %s entries; %s"):format(key.keyPostfix, tostring(mine.total), perr))
    ks:close()
    onlyoffice.assert(s:delete("keys/" .. key.id))
  else
    print("api key    none on this portal: " .. kerr)
  end
  local seen = {}
  local from = content.folders[1]
  local op, oerr = s:operation("copy", { folderIds = { from.id }, fileIds = onlyoffice.array({}),
    destFolderId = content.current.id, conflictResolveType = 2 },
    { progress = function(percent) seen[#seen + 1] = percent .. "%" end })
  print(("operation  copy of folder %d: %s"):format(from.id, op and ("done, progress " .. table.concat(seen, " "))
    or oerr))
end

local none, nerr, ndetail = s:get("files/file/1")
print(("a failure  %s, %s, status %s"):format(tostring(none), nerr, tostring(ndetail.status)))

local ok, lerr = s:logout()
print("logout     " .. (ok and "token revoked" or lerr))
