-- The first OAuth2 tokens for an app registered on a DocSpace portal (Settings >
-- Developer Tools > OAuth). Consent needs a browser, so this takes two runs:
-- 1. without OAUTH_CODE it prints the consent page's address: open it and allow;
-- 2. the portal then sends the browser to your redirect URI with ?code=...: run
--    again within a minute with OAUTH_CODE set. The tokens go to TOKENS_FILE
--    (mode 0600), where examples/oauth_refresh.lua keeps them fresh.
--   ONLYOFFICE_URL=https://portal.example.com OAUTH_CLIENT_ID=... OAUTH_CLIENT_SECRET=... \
--   OAUTH_REDIRECT_URI=https://app.example.com/callback TOKENS_FILE=tokens.json lua5.4 examples/oauth_first_tokens.lua
local onlyoffice = require "onlyoffice"
local cjson = require "cjson"

local function need(name)
  return assert(os.getenv(name), "set " .. name)
end

local url, client_id, redirect = need("ONLYOFFICE_URL"), need("OAUTH_CLIENT_ID"), need("OAUTH_REDIRECT_URI")
local code = os.getenv("OAUTH_CODE")
if not code then
  local function escape(v)
    return (v:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
  end
  print(("%s/oauth2/authorize?response_type=code&client_id=%s&redirect_uri=%s&scope=%s"):format(url,
    escape(client_id), escape(redirect), escape(os.getenv("OAUTH_SCOPES") or "files:read accounts.self:read")))
  os.exit(0)
end

local tokens, err = onlyoffice.oauth_exchange({ url = url, code = code, redirect_uri = redirect,
  client_id = client_id, client_secret = need("OAUTH_CLIENT_SECRET") })
if not tokens then
  io.stderr:write(err, "\n")
  os.exit(1)
end
local file = need("TOKENS_FILE")
onlyoffice.assert(onlyoffice.write_private(file, cjson.encode(tokens)))
print(("tokens     saved to %s, the access token expires in %s s"):format(file, tostring(tokens.expires_in)))
