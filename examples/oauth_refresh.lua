-- An OAuth2 session whose tokens stay fresh between runs: the module refreshes
-- the access token shortly before it expires (or after a 401), and on_refresh
-- stores the new pair at once, since DocSpace's refresh tokens work only once.
--   ONLYOFFICE_URL=https://portal.example.com OAUTH_CLIENT_ID=... OAUTH_CLIENT_SECRET=... \
--   TOKENS_FILE=tokens.json lua5.4 examples/oauth_refresh.lua [--refresh]
-- TOKENS_FILE comes from examples/oauth_first_tokens.lua; --refresh refreshes now.
local onlyoffice = require "onlyoffice"
local cjson = require "cjson"

local function need(name)
  return assert(os.getenv(name), "set " .. name)
end

local file = need("TOKENS_FILE")
local f = assert(io.open(file, "rb"))
local saved = cjson.decode(f:read("*a"))
f:close()

local s = onlyoffice.session({ url = need("ONLYOFFICE_URL"), access_token = saved.access_token,
  refresh_token = saved.refresh_token, expires_at = saved.expires_at, client_id = need("OAUTH_CLIENT_ID"),
  client_secret = need("OAUTH_CLIENT_SECRET"),
  on_refresh = function(tokens)
    tokens.refresh_token = tokens.refresh_token or saved.refresh_token -- a portal that did not rotate it
    assert(onlyoffice.write_private(file, cjson.encode(tokens)))
    print("refreshed  the access token; the new pair is saved")
  end })

if arg[1] == "--refresh" then
  onlyoffice.assert(s:refresh())
end
local me = onlyoffice.assert(s:get("people/@self"))
print(("me         %s <%s>"):format(me.displayName, me.email))
s:close()
