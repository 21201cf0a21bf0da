-- Calls a DocSpace portal with an API key (Settings > Developer Tools > API keys):
-- no login, nothing to refresh. The key goes as "Authorization: Bearer sk-...",
-- acts as the user who made it, and only on the routes its scopes allow.
--   ONLYOFFICE_URL=https://portal.example.com ONLYOFFICE_API_KEY=sk-... lua5.4 examples/api_key.lua
-- On the bundled emulator (ONLYOFFICE_EMULATOR=1) it first makes a read-only key
-- with POST /api/2.0/keys, as ONLYOFFICE_USER, and deletes it at the end.
local onlyoffice = require "onlyoffice"

local url = assert(os.getenv("ONLYOFFICE_URL"), "set ONLYOFFICE_URL")
local key, admin, made = os.getenv("ONLYOFFICE_API_KEY"), nil, nil
if not key and os.getenv("ONLYOFFICE_EMULATOR") then
  admin = onlyoffice.assert(onlyoffice.login(url, os.getenv("ONLYOFFICE_USER"), os.getenv("ONLYOFFICE_PASSWORD")))
  made = onlyoffice.assert(admin:post("keys", { name = "example", expiresInDays = 1,
    permissions = { "files:read", "accounts.self:read" } }))
  key = made.key -- the whole key is only in this answer; later reads show sk-***<last 4>
end
assert(key, "set ONLYOFFICE_API_KEY")

local s = onlyoffice.session(url, key)
local me = onlyoffice.assert(s:get("people/@self"))
print(("key of     %s <%s>"):format(me.displayName, me.email))
local my = onlyoffice.assert(s:get("files/@my", { count = 3 }))
print(("my docs    %s entries"):format(tostring(my.total)))

-- A route outside the key's scopes: 403, kind "auth", and the scope it needs.
local _, err, detail = s:get("people")
print(("people     %s: %s"):format(tostring(detail and detail.kind), tostring(err)))
s:close()

if made then
  onlyoffice.assert(admin:delete("keys/" .. made.id))
  admin:close()
end
