-- DocSpace 3.x credentials other than the login token: API keys ("Bearer
-- sk-<64 hex>", with scopes, expiry and revocation, checked on every request)
-- and OAuth2 access tokens from /oauth2/token (refresh tokens rotate; a used
-- one is refused). Facts: ../shared/reference/portal-api-docspace3.md, 1 and 2.
local M = {}

-- The one registered OAuth application (confidential: client_secret_post).
M.CLIENT_ID = "emu-client-0001"
M.CLIENT_SECRET = "emu-secret-6f1c2a9e4b7d"
local ACCESS_TTL = 3600

local PERMISSIONS = { ["*"] = true, ["*:read"] = true, ["*:write"] = true, ["accounts:read"] = true,
  ["accounts:write"] = true, ["accounts.self:read"] = true, ["accounts.self:write"] = true,
  ["files:read"] = true, ["files:write"] = true, ["rooms:read"] = true, ["rooms:write"] = true }

local function random_hex(n)
  local out = {}
  while #table.concat(out) < n do
    out[#out + 1] = ngx.md5(ngx.now() .. math.random() .. ngx.worker.pid() .. #out)
  end
  return table.concat(out):sub(1, n)
end

---------------------------------------------------------------------------
-- Scopes: AuthorizationExtension.ScopesMap, the first match wins
---------------------------------------------------------------------------

local AREAS = { { "^files/rooms", "rooms" }, { "^files", "files" }, { "^people/@self", "accounts.self" },
  { "^people", "accounts" }, { "^group", "accounts" } }

local function allowed(scopes, method, rest)
  local write = method ~= "GET" and method ~= "HEAD"
  if scopes["*"] or scopes["*:write"] or (not write and scopes["*:read"]) then
    return true
  end
  if rest == "keys/@self" then
    return true
  end
  for _, area in ipairs(AREAS) do
    if rest:find(area[1]) then
      local name = area[2]
      if write then
        return scopes[name .. ":write"] == true
      end
      return scopes[name .. ":read"] == true or (area[1] ~= "^group" and scopes[name .. ":write"] == true)
    end
  end
  return false
end

local function scope_set(list)
  local set = {}
  for _, p in ipairs(type(list) == "table" and list or {}) do
    set[p] = true
  end
  if next(set) == nil then
    set["*"] = true
  end
  return set
end

local function request_rest()
  return (ngx.var.uri:match("^/api/2%.0/(.*)$") or ""):gsub("%.json$", "")
end

---------------------------------------------------------------------------
-- API keys: "key:<secret>" -> { id, login, name, permissions, active, expires }
---------------------------------------------------------------------------

local function key_answer(lib, k, full)
  return { id = k.id, name = k.name, key = full or ("sk-***" .. k.postfix), keyPostfix = k.postfix,
    permissions = k.permissions, isActive = k.active, createOn = k.created,
    expiresAt = k.expires and ngx.http_time(k.expires) or lib.cjson.null,
    createBy = { id = k.user_id, displayName = k.login } }
end

local function save_key(lib, secret, k)
  lib.dict:set("key:" .. secret, lib.cjson.encode(k))
  lib.dict:set("keyid:" .. k.id, secret)
end

local function load_key(lib, secret)
  local v = secret and lib.dict:get("key:" .. secret)
  return v and lib.cjson.decode(v)
end

local function create_key(lib)
  local login, user = lib.authorized()
  local f = lib.body_fields() or {}
  if type(f.name) ~= "string" or f.name:match("^%s*$") or #f.name > 30 then
    return lib.err(400, "The Name field is required.")
  end
  local perms = f.permissions
  for _, p in ipairs(type(perms) == "table" and perms or {}) do
    if not PERMISSIONS[p] then
      return lib.err(400, "Permissions are not valid.")
    end
  end
  local days = tonumber(f.expiresindays)
  if days and (days < 1 or days > 365) then
    return lib.err(400, "ExpiresInDays must be between 1 and 365.")
  end
  local secret = "sk-" .. random_hex(64)
  local k = { id = random_hex(8) .. "-" .. random_hex(4) .. "-4" .. random_hex(3) .. "-a" .. random_hex(3) .. "-"
    .. random_hex(12), login = login, user_id = user.id, name = f.name,
    permissions = type(perms) == "table" and #perms > 0 and perms or { "*" }, active = true,
    postfix = secret:sub(-4), created = ngx.http_time(ngx.time()),
    expires = days and ngx.time() + days * 86400 or nil }
  save_key(lib, secret, k)
  lib.dict:incr("keys_created", 1, 0)
  return lib.json_send(200, { response = key_answer(lib, k, secret), status = 0, statusCode = 200, count = 1 })
end

local function by_id(lib, id)
  local secret = lib.dict:get("keyid:" .. id)
  return secret, load_key(lib, secret)
end

local function change_key(lib, method, id)
  local login = lib.authorized()
  local secret, k = by_id(lib, id)
  if not k then
    return lib.err(500, "Object reference not set to an instance of an object.")
  end
  if k.login ~= login then
    return lib.ok(false)
  end
  if method == "DELETE" then
    lib.dict:delete("key:" .. secret)
    lib.dict:delete("keyid:" .. id)
    return lib.ok(true)
  end
  local f = lib.body_fields() or {}
  if k.expires and k.expires <= ngx.time() then
    return lib.ok(false)
  end
  if type(f.isactive) == "boolean" then
    k.active = f.isactive
  end
  if type(f.name) == "string" and f.name ~= "" then
    k.name = f.name
  end
  if type(f.permissions) == "table" then
    k.permissions = f.permissions
  end
  save_key(lib, secret, k)
  return lib.ok(true)
end

local function key_self(lib)
  local auth = ngx.var.http_authorization or ""
  local k = load_key(lib, auth:match("^Bearer (sk%-%x+)$"))
  if not k then
    return lib.unauthorized()
  end
  lib.authorized()
  return lib.ok(key_answer(lib, k))
end

-- A request with "Bearer sk-...": the key's user, or why not.
local function key_user(lib, secret, method, rest)
  local k = load_key(lib, secret)
  if not k or not k.active or (k.expires and k.expires <= ngx.time()) then
    return nil, 401
  end
  if not allowed(scope_set(k.permissions), method, rest) then
    return nil, 403
  end
  lib.dict:incr("key_uses", 1, 0)
  return k.login
end

---------------------------------------------------------------------------
-- OAuth2: "oat:<access>" -> { login, scopes, exp }, "ort:<refresh>" -> { login, scopes }
---------------------------------------------------------------------------

local function b64url(s)
  return (ngx.encode_base64(s):gsub("+", "-"):gsub("/", "_"):gsub("=", ""))
end

local function issue(lib, login, scopes)
  local ttl = tonumber(lib.dict:get("oauth_ttl")) or ACCESS_TTL
  local gen = lib.dict:get("ogen:" .. login) or 0
  local access = b64url('{"alg":"RS256","typ":"JWT"}') .. "." .. b64url(lib.cjson.encode({ sub = login,
    exp = ngx.time() + ttl, jti = random_hex(16) })) .. "." .. b64url(random_hex(32))
  local refresh = "ort_" .. random_hex(48)
  local meta = { login = login, scopes = scopes, gen = gen }
  lib.dict:set("ort:" .. refresh, lib.cjson.encode(meta))
  meta.exp = ngx.now() + ttl
  lib.dict:set("oat:" .. access, lib.cjson.encode(meta))
  return { access_token = access, refresh_token = refresh, token_type = "Bearer", expires_in = ttl,
    scope = table.concat(scopes, " ") }
end

local function oauth_error(lib, status, code)
  lib.dict:incr("oauth_refused", 1, 0)
  return lib.json_send(status, { error = code })
end

local function current(lib, key)
  local v = lib.dict:get(key)
  local meta = v and lib.cjson.decode(v)
  if meta and meta.gen == (lib.dict:get("ogen:" .. meta.login) or 0) then
    return meta
  end
end

-- POST /oauth2/token, form-encoded, client_secret_post only.
local function token_endpoint(lib)
  local moved = lib.dict:get("oauth_redirect")
  if moved then -- a portal gone wrong: the token endpoint sends its callers elsewhere
    return ngx.redirect(moved, tonumber(lib.dict:get("oauth_redirect_code")) or 307)
  end
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  lib.dict:set("last_token_form", body)
  lib.dict:set("last_token_ctype", ngx.var.content_type or "")
  if not (ngx.var.content_type or ""):find("application/x-www-form-urlencoded", 1, true) then
    return oauth_error(lib, 400, "invalid_request")
  end
  local form = ngx.decode_args(body)
  if form.client_id ~= M.CLIENT_ID or form.client_secret ~= M.CLIENT_SECRET then
    return oauth_error(lib, 401, "invalid_client")
  end
  local meta
  if form.grant_type == "refresh_token" then
    meta = current(lib, "ort:" .. tostring(form.refresh_token))
    lib.dict:delete("ort:" .. tostring(form.refresh_token)) -- rotation: a refresh token works once
  elseif form.grant_type == "authorization_code" then
    meta = current(lib, "code:" .. tostring(form.code))
    lib.dict:delete("code:" .. tostring(form.code))
  else
    return oauth_error(lib, 400, "unsupported_grant_type")
  end
  if not meta then
    return oauth_error(lib, 400, "invalid_grant")
  end
  local delay = lib.dict:get("oauth_delay")
  if delay then
    ngx.sleep(delay)
  end
  lib.dict:incr("oauth_" .. form.grant_type, 1, 0)
  return lib.json_send(200, issue(lib, meta.login, meta.scopes))
end

local function access_user(lib, token, method, rest)
  local meta = current(lib, "oat:" .. token)
  if not meta or meta.exp <= ngx.now() then
    return nil, 401
  end
  if not allowed(scope_set(meta.scopes), method, rest) then
    return nil, 403
  end
  lib.dict:incr("oauth_uses", 1, 0)
  return meta.login
end

---------------------------------------------------------------------------
-- Extension
---------------------------------------------------------------------------

local function scopes_arg()
  local list = {}
  for p in (ngx.unescape_uri(ngx.var.arg_scopes or "")):gmatch("[^,%s]+") do
    list[#list + 1] = p
  end
  return list
end

function M.install(lib)
  lib.hooks.bearer = function(credential)
    local method, rest = ngx.req.get_method(), request_rest()
    if credential:match("^sk%-") then
      return key_user(lib, credential, method, rest)
    elseif credential:match("^[%w_-]+%.[%w_-]+%.[%w_-]+$") then
      return access_user(lib, credential, method, rest)
    end
  end
  local C = lib.CONTROL
  -- Tokens as the authorization-code exchange would give them: ?user=&scopes=a,b
  function C.oauth_grant()
    return lib.json_send(200, issue(lib, ngx.unescape_uri(ngx.var.arg_user or ""), scopes_arg()))
  end
  -- An authorization code for ?user= (what the browser step hands the redirect URI).
  function C.oauth_code()
    local code = random_hex(24)
    lib.dict:set("code:" .. code, lib.cjson.encode({ login = ngx.unescape_uri(ngx.var.arg_user or ""),
      scopes = scopes_arg(), gen = lib.dict:get("ogen:" .. ngx.unescape_uri(ngx.var.arg_user or "")) or 0 }), 60)
    return lib.json_send(200, { code = code })
  end
  -- Lifetime of new access tokens (?seconds=), and a delay for the token endpoint (?ms=).
  function C.oauth_ttl()
    lib.dict:set("oauth_ttl", tonumber(ngx.var.arg_seconds))
    return lib.json_send(200, { ok = true })
  end
  function C.oauth_delay()
    local ms = tonumber(ngx.var.arg_ms) or 0
    lib.dict:set("oauth_delay", ms > 0 and ms / 1000 or nil)
    return lib.json_send(200, { ok = true })
  end
  -- The token endpoint redirects to ?to= with ?code= (no ?to=: it answers again).
  function C.oauth_redirect()
    lib.dict:set("oauth_redirect", ngx.var.arg_to and ngx.unescape_uri(ngx.var.arg_to) or nil)
    lib.dict:set("oauth_redirect_code", tonumber(ngx.var.arg_code))
    return lib.json_send(200, { ok = true })
  end
  -- Revokes every OAuth token of ?user=.
  function C.oauth_revoke()
    lib.dict:incr("ogen:" .. ngx.unescape_uri(ngx.var.arg_user or ""), 1, 0)
    return lib.json_send(200, { ok = true })
  end
  function C.credentials()
    local d = lib.dict
    return lib.json_send(200, { refreshes = d:get("oauth_refresh_token") or 0,
      code_exchanges = d:get("oauth_authorization_code") or 0, refused = d:get("oauth_refused") or 0,
      oauth_uses = d:get("oauth_uses") or 0, key_uses = d:get("key_uses") or 0,
      keys_created = d:get("keys_created") or 0, last_token_form = d:get("last_token_form"),
      last_token_ctype = d:get("last_token_ctype") })
  end
end

function M.route(lib, method, uri, rest)
  if uri == "/oauth2/token" and method == "POST" then
    return token_endpoint(lib)
  end
  if not rest or lib.flavor() ~= "docspace" then
    return
  end
  if rest == "keys" and method == "POST" then
    return create_key(lib)
  elseif rest == "keys/@self" and method == "GET" then
    return key_self(lib)
  elseif rest:match("^keys/[%w-]+$") and (method == "PUT" or method == "DELETE") then
    return change_key(lib, method, rest:match("^keys/([%w-]+)$"))
  end
end

return M
