-- What a session authenticates with, when no login makes it: a login token,
-- a DocSpace API key, or OAuth2 tokens. Programmer mistakes raise here with
-- the level pointing at the caller's line.
local M = {}

-- Credential fields: taken out of the options before those are checked.
local FIELDS = { "api_key", "access_token", "refresh_token", "client_id", "client_secret", "on_refresh",
  "expires_at" }

local function fail(level, fmt, ...)
  error(string.format(fmt, ...), level + 2)
end

-- A secret that goes into a header or a form: a non-empty string of visible ASCII.
local function secret(level, name, v)
  if type(v) ~= "string" or v == "" or v:find("[^\33-\126]") then
    fail(level, "%s must be a non-empty string of visible ASCII characters", name)
  end
  return v
end

local function split(options, level)
  if options == nil then
    return {}, nil
  elseif type(options) ~= "table" then
    fail(level, "options must be a table, got %s", type(options))
  end
  local c, rest = {}, {}
  for k, v in pairs(options) do
    rest[k] = v
  end
  for _, k in ipairs(FIELDS) do
    c[k], rest[k] = rest[k], nil
  end
  return c, rest
end

local function oauth(c, level)
  secret(level + 1, "access_token", c.access_token)
  if c.refresh_token ~= nil then
    secret(level + 1, "refresh_token", c.refresh_token)
    secret(level + 1, "client_id (needed to refresh)", c.client_id)
    secret(level + 1, "client_secret (needed to refresh)", c.client_secret)
  elseif c.client_id ~= nil or c.client_secret ~= nil or c.on_refresh ~= nil then
    fail(level, "client_id, client_secret and on_refresh need a refresh_token")
  end
  if c.on_refresh ~= nil and type(c.on_refresh) ~= "function" then
    fail(level, "on_refresh must be a function, got %s", type(c.on_refresh))
  end
  if c.expires_at ~= nil and (type(c.expires_at) ~= "number" or c.expires_at ~= c.expires_at) then
    fail(level, "expires_at must be a number (seconds since the epoch, as on_refresh gives it)")
  end
  return { kind = "oauth", token = c.access_token, refresh = c.refresh_token, client_id = c.client_id,
    client_secret = c.client_secret, on_refresh = c.on_refresh, expires_at = c.expires_at }
end

--- parse(token, options, level) -> credential, the options without credential
--- fields. A token that starts with "sk-" is a DocSpace API key, which only
--- works as "Bearer sk-...".
function M.parse(token, options, level)
  local c, rest = split(options, level + 1)
  local given = (token ~= nil and 1 or 0) + (c.api_key ~= nil and 1 or 0) + (c.access_token ~= nil and 1 or 0)
  if given ~= 1 then
    fail(level, "a session needs exactly one of token, api_key and access_token")
  end
  if c.access_token == nil then
    for _, k in ipairs(FIELDS) do
      if k ~= "api_key" and c[k] ~= nil then
        fail(level, "%s belongs to OAuth sessions (with access_token)", k)
      end
    end
  end
  if c.access_token ~= nil then
    return oauth(c, level + 1), rest
  elseif c.api_key ~= nil then
    return { kind = "key", token = secret(level + 1, "api_key", c.api_key) }, rest
  end
  if type(token) ~= "string" or token == "" or token:find("[%z\r\n;]") then
    fail(level, "token must be a non-empty string without CR, LF, NUL or ';'")
  end
  if token:match("^sk%-") then
    return { kind = "key", token = secret(level + 1, "an API key", token) }, rest
  end
  return { kind = "login", token = token }, rest
end

--- Gives session s the credential c.
function M.apply(priv, s, c)
  assert(priv.set_token(s, c.token, nil, c.kind))
  local st = priv.state(s)
  st.credential = c.kind
  if c.kind == "oauth" then
    st.expires_at, st.on_refresh = c.expires_at, c.on_refresh
    if c.refresh then
      st.oauth = true
      priv.oauth_client(s, c.refresh, c.client_id, c.client_secret)
    end
  end
end

--- The /oauth2/token form that exchanges an authorization code, and the
--- options left for the session that sends it; raises at `level`.
function M.exchange(t, level)
  local fields = { "url", "code", "redirect_uri", "client_id", "client_secret", "code_verifier" }
  local opts = {}
  for k, v in pairs(t) do
    opts[k] = v
  end
  for _, k in ipairs(fields) do
    opts[k] = nil
  end
  for _, k in ipairs({ "code", "redirect_uri", "client_id" }) do
    secret(level + 1, k, t[k])
  end
  if (t.client_secret == nil) == (t.code_verifier == nil) then
    fail(level, "pass client_secret (a confidential client) or code_verifier (PKCE), not both")
  end
  local form = { grant_type = "authorization_code", code = t.code, redirect_uri = t.redirect_uri,
    client_id = t.client_id }
  if t.client_secret ~= nil then
    form.client_secret = secret(level + 1, "client_secret", t.client_secret)
  else
    form.code_verifier = secret(level + 1, "code_verifier", t.code_verifier)
  end
  return form, opts
end

---------------------------------------------------------------------------
-- What a refusal means for a session with an API key or OAuth token
---------------------------------------------------------------------------

-- DocSpace's scope map (AuthorizationExtension.ScopesMap): the first match wins.
local SCOPES = {
  { "^files/rooms", "rooms" }, { "^files", "files" }, { "^people/@self", "accounts.self" },
  { "^people", "accounts" }, { "^group", "accounts" },
}

--- The scope a key or token needs for method on target (a path below the
--- portal root), as DocSpace checks it.
function M.scope(method, target)
  local path = (target or ""):gsub("[?#].*$", ""):gsub("^/api/2%.0/", ""):gsub("%.json$", "")
  local write = not (method == "GET" or method == "HEAD")
  for _, rule in ipairs(SCOPES) do
    if path:find(rule[1]) then
      if rule[2] == "accounts" and rule[1] == "^group" and not write then
        return "accounts:read"
      end
      return rule[2] .. (write and ":write" or ":read (or :write)")
    end
  end
  return write and "*:write" or "*:read"
end

--- A hint for a 401 or 403 that a key or OAuth token got: message, kind.
function M.refusal(kind, status, method, target)
  if status == 401 then
    if kind == "key" then
      return "the API key was refused: revoked, deactivated, expired or unknown"
    end
    return "the OAuth access token was refused" .. (kind == "oauth" and " and cannot be refreshed" or "")
  end
  return "the " .. (kind == "key" and "API key" or "OAuth token") .. " lacks the scope this route needs: "
    .. M.scope(method, target)
end

return M
