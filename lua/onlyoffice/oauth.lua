-- OAuth2 sessions: the access token is refreshed at /oauth2/token (grant
-- refresh_token, client_secret_post, the only client authentication DocSpace
-- advertises) shortly before it expires when its lifetime is known, and after a
-- 401; refresh tokens rotate, so every new pair goes to on_refresh.
local response = require "onlyoffice.response"

local M = {}

local TARGET = "/oauth2/token"

--- Seconds before the known expiry at which a call refreshes first.
M.EARLY = 60

--- new(priv, P): makes P.authenticate refresh the tokens of OAuth sessions.
function M.new(priv, P)
  local state, set_token, oauth_client = priv.state, priv.set_token, priv.oauth_client
  local login = P.authenticate

  local function fail(message, detail)
    detail.kind, detail.method, detail.path = "auth", "POST", TARGET
    return nil, "token refresh failed: " .. message, detail
  end

  -- What /oauth2/token answered, as the fields a caller stores.
  local function tokens_of(doc, now)
    local expires_in = tonumber(doc.expires_in)
    if expires_in and not (expires_in > 0 and expires_in < 2 ^ 31) then
      expires_in = nil
    end
    return {
      access_token = doc.access_token,
      refresh_token = type(doc.refresh_token) == "string" and doc.refresh_token ~= "" and doc.refresh_token or nil,
      expires_in = expires_in,
      expires_at = expires_in and now + expires_in or nil,
      token_type = type(doc.token_type) == "string" and doc.token_type or nil,
      scope = type(doc.scope) == "string" and doc.scope or nil,
    }
  end

  local function refresh(s)
    local st = state(s)
    local req = { method = "POST", target = TARGET, refresh = true, relogin = false }
    local final = (P.one(s, req))
    local _, message, detail = P.failure(s, req, final)
    if message then
      if detail.kind == "http" or detail.kind == "redirect" then
        -- invalid_grant: the refresh token was revoked, has expired, or was used already.
        return fail(message:gsub("^POST [^:]*: ", ""), detail)
      end
      return nil, message, detail
    end
    local doc = response.decode(final.body)
    if type(doc) ~= "table" or type(doc.access_token) ~= "string" or doc.access_token == "" then
      return fail("the answer has no access_token", { status = final.status })
    end
    local tokens = tokens_of(doc, os.time())
    local ok, err = set_token(s, tokens.access_token, nil, "oauth")
    if not ok then
      return fail(err, { status = final.status })
    end
    if tokens.refresh_token then
      oauth_client(s, tokens.refresh_token)
    end
    st.expires_at = tokens.expires_at
    if st.on_refresh then
      st.on_refresh(tokens)
    end
    return true
  end

  --- s:refresh() -> true | nil, message, detail: new tokens now (on_refresh
  --- hears of them), for a caller that knows the access token was revoked.
  function priv.methods.refresh(s)
    if not state(s).oauth then
      error("s:refresh needs an OAuth session with a refresh_token", 2)
    end
    local ok, err, detail = P.call(s, refresh)
    return ok, err, detail -- not a tail call: P.call counts this frame
  end

  --- Inside a public call: the first tokens, for an authorization code (the
  --- form was built by credentials.exchange): tokens | nil, message, detail.
  function P.exchange(s, form)
    local req = { method = "POST", target = TARGET, body = form, form = true, auth = false, relogin = false }
    local final = (P.one(s, req))
    local _, message, detail = P.failure(s, req, final)
    if message then
      if detail.kind == "http" or detail.kind == "redirect" then
        detail.kind = "auth"
        return nil, "token exchange failed: " .. message:gsub("^POST [^:]*: ", ""), detail
      end
      return nil, message, detail
    end
    local doc = response.decode(final.body)
    if type(doc) ~= "table" or type(doc.access_token) ~= "string" or doc.access_token == "" then
      return nil, "token exchange failed: the answer has no access_token", { kind = "auth", status = final.status }
    end
    return tokens_of(doc, os.time())
  end

  function P.authenticate(s, code)
    if state(s).oauth then
      return refresh(s)
    end
    return login(s, code)
  end

  --- Whether s holds an OAuth token that expires within M.EARLY seconds.
  function P.expiring(st)
    return st.oauth == true and st.expires_at ~= nil and os.time() >= st.expires_at - M.EARLY
  end
end

return M
