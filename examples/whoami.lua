-- Who am I? Logs in and prints the portal's profile of the current user.
--   ONLYOFFICE_URL=https://portal.example.com ONLYOFFICE_USER=me@example.com \
--   ONLYOFFICE_PASSWORD=correct-horse-7 lua5.4 examples/whoami.lua
local onlyoffice = require "onlyoffice"

local s, err = onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE") })
if s == nil then
  io.stderr:write("login failed: ", err, "\n")
  os.exit(1)
end

local me = onlyoffice.assert(s:get("people/@self"))
print(("%s <%s>%s"):format(me.displayName, me.email, me.isAdmin and " (admin)" or ""))
s:close()
