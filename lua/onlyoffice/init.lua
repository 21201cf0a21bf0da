-- onlyoffice: a client for the ONLYOFFICE portal REST API (DocSpace and Workspace).
local core = require "onlyoffice.core"
local args = require "onlyoffice.args"
local json = require "onlyoffice.json"
local response = require "onlyoffice.response"

local M = {
  _VERSION = "0.1.0",
  null = json.null,
  curl_version = core.curl_version,
  ssl_version = core.ssl_version,
}

local methods = core.methods
local unpack = table.unpack or unpack

local DEFAULT_RETRIES = 2
local DEFAULT_MAX_RETRY_WAIT = 10 -- seconds
local MAX_REDIRECTS = 5
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }
local REDIRECT_STATUS = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

-- Settings the Lua side needs per session; weak keys, so sessions still collect.
local settings = setmetatable({}, { __mode = "k" })

-- Every message and detail leaving the module passes here: no token, no password.
local function failure(s, message, detail)
  detail = detail or {}
  message = core.redact(s, message)
  for k, v in pairs(detail) do
    if type(v) == "string" then
      detail[k] = core.redact(s, v)
    end
  end
  if type(detail.error) == "table" and type(detail.error.message) == "string" then
    detail.error.message = core.redact(s, detail.error.message)
  end
  return nil, message, detail
end

local function network_failure(s, message, code, method, target)
  if message == "session is closed" then
    return failure(s, message, { closed = true })
  end
  return failure(s, "network error: " .. tostring(message),
    { curl_code = code, timeout = code == 28 or nil, method = method, path = target })
end

---------------------------------------------------------------------------
-- Login
---------------------------------------------------------------------------

-- The token block of a login answer; Workspace's docs spell the fields in PascalCase.
local function token_block(body)
  local doc = json.decode(body)
  if type(doc) ~= "table" then
    return nil
  end
  return type(doc.response) == "table" and doc.response or doc
end

local function second_factor(s, r)
  local detail = {
    status = 200, tfa = r.tfa == true or nil, sms = r.sms == true or nil,
    confirm_url = type(r.confirmUrl) == "string" and r.confirmUrl or nil,
    phone = type(r.phoneNoise) == "string" and r.phoneNoise or nil,
  }
  local how = detail.sms and ("an SMS code" .. (detail.phone and (" sent to " .. detail.phone) or ""))
    or "an authenticator app code"
  return failure(s, "two-factor authentication required: pass options.code with " .. how, detail)
end

-- One login exchange: true once the session holds a token; "2fa", r for a challenge.
local function login_exchange(s, code)
  local status, body, ctype, retry_after = core.login(s, code)
  if not status then
    return network_failure(s, body, ctype, "POST", "/api/2.0/authentication")
  end
  if status ~= 200 and status ~= 201 then
    local message, detail = response.failure(status, body, ctype, retry_after)
    return failure(s, "login failed: " .. message, detail)
  end
  local r = token_block(body)
  if not r then
    return failure(s, "login failed: the answer is not JSON", { status = status, body = body:sub(1, 512) })
  end
  local token, expires = r.token or r.Token, r.expires or r.Expires
  if type(token) == "string" and token ~= "" then
    local ok, err = core.set_token(s, token, type(expires) == "string" and expires or nil)
    if not ok then
      return failure(s, "login failed: " .. err, { status = status })
    end
    return true
  end
  if r.tfa == true or r.sms == true then
    return "2fa", r
  end
  return failure(s, "login failed: the answer has no token", { status = status })
end

local function authenticate(s, code)
  local ok, r, detail = login_exchange(s, nil)
  if ok ~= "2fa" then
    return ok, r, detail
  end
  if not code then
    return second_factor(s, r)
  end
  ok, r, detail = login_exchange(s, code)
  if ok == "2fa" then
    return second_factor(s, r)
  end
  return ok, r, detail
end

local function new_session(url, opts, level)
  local base = args.base_url(url, level + 1)
  opts = args.options(opts, level + 1)
  local s = core.new(base, opts)
  settings[s] = {
    retries = opts.retries or DEFAULT_RETRIES,
    max_retry_wait = opts.max_retry_wait or DEFAULT_MAX_RETRY_WAIT,
  }
  return s, opts
end

--- login(url, username, password [, options]) or login{url=, username=, password=, ...}
function M.login(url, username, password, options)
  if type(url) == "table" then
    url, username, password, options = unpack(args.named(url, { "url", "username", "password" }))
  end
  if type(username) ~= "string" or username == "" then
    error("username must be a non-empty string", 2)
  end
  if type(password) ~= "string" or password:find("%z") or username:find("%z") then
    error("password must be a string and neither it nor username may hold NUL", 2)
  end
  local s, opts = new_session(url, options, 2)
  core.credentials(s, username, password)
  local ok, err, detail = authenticate(s, opts.code)
  if not ok then
    s:close()
    return nil, err, detail
  end
  if opts.relogin == false then
    core.forget_password(s)
  end
  return s
end

--- session(url, token [, options]) or session{url=, token=, ...}: no login, no re-login.
function M.session(url, token, options)
  if type(url) == "table" then
    url, token, options = unpack(args.named(url, { "url", "token" }))
  end
  if type(token) ~= "string" or token == "" or token:find("[%z\r\n;]") then
    error("token must be a non-empty string without CR, LF, NUL or ';'", 2)
  end
  local s = new_session(url, options, 2)
  assert(core.set_token(s, token))
  return s
end

---------------------------------------------------------------------------
-- Requests
---------------------------------------------------------------------------

local function retry_wait(retry_after, attempt, cap)
  if retry_after then
    return retry_after <= cap and retry_after or nil
  end
  return math.min(0.2 * 2 ^ attempt, cap)
end

-- The target of a redirect that stays inside the portal root, or nil.
local function redirect_target(s, location)
  local base = s:url() .. "/"
  if location and location:sub(1, #base):lower() == base:lower() then
    return "/" .. location:sub(#base + 1)
  end
end

local function exchange(s, method, target, payload, lines)
  local cfg = settings[s]
  local relogged, attempt, redirects = false, 0, 0
  while true do
    local status, body, ctype, retry_after, location = core.perform(s, method, target, payload, lines)
    if not status then
      return network_failure(s, body, ctype, method, target)
    end
    local wait = RETRY_STATUS[status] and (method == "GET" or method == "HEAD")
      and attempt < cfg.retries and retry_wait(retry_after, attempt, cfg.max_retry_wait)
    if status == 401 and not relogged and core.can_relogin(s) then
      relogged = true
      local ok, err, detail = authenticate(s, nil)
      if not ok then
        return nil, err, detail
      end
    elseif wait then
      attempt = attempt + 1
      core.sleep(wait)
    elseif REDIRECT_STATUS[status] then
      local next_target = redirect_target(s, location)
      redirects = redirects + 1
      if not next_target or redirects > MAX_REDIRECTS then
        return failure(s, next_target and "too many redirects"
          or ("redirected outside the portal, not followed: " .. tostring(location)),
          { status = status, location = location, method = method, path = target })
      end
      target = next_target
      if status <= 303 and method ~= "HEAD" then
        method, payload = "GET", nil
      end
    elseif status >= 200 and status < 300 then
      local data, info, detail = response.success(status, body, ctype)
      if data == nil then
        return failure(s, info, detail)
      end
      return data, info
    else
      local message, detail = response.failure(status, body, ctype, retry_after)
      detail.method, detail.path = method, target
      return failure(s, method .. " " .. target .. ": " .. message, detail)
    end
  end
end

-- Checks a request's parts; `level` points error() at the caller's caller.
local function prepare(method, path, opts, level)
  method = args.method(method, level)
  if opts ~= nil and type(opts) ~= "table" then
    error("request options must be a table, got " .. type(opts), level)
  end
  opts = opts or {}
  local target = args.target(path, opts.query, level)
  local payload, body = nil, opts.body
  if type(body) == "table" then
    local err
    payload, err = json.encode(body)
    if not payload then
      error("body cannot be encoded as JSON: " .. tostring(err), level)
    end
  elseif type(body) == "string" then
    payload = body
  elseif body ~= nil then
    error("body must be a table or a string, got " .. type(body), level)
  end
  return method, target, payload, opts.headers and args.header_lines(opts.headers, level)
end

--- s:request(method, path [, {query=, body=, headers=}])
function methods.request(s, method, path, opts)
  return exchange(s, prepare(method, path, opts, 3))
end

function methods.get(s, path, query)
  return exchange(s, "GET", args.target(path, query, 2))
end

function methods.delete(s, path, query)
  return exchange(s, "DELETE", args.target(path, query, 2))
end

function methods.post(s, path, body, query)
  return exchange(s, prepare("POST", path, { body = body, query = query }, 3))
end

function methods.put(s, path, body, query)
  return exchange(s, prepare("PUT", path, { body = body, query = query }, 3))
end

--- Revokes the token on the portal, then closes the session.
function methods.logout(s)
  local status, body, ctype, retry_after = core.perform(s, "POST", "/api/2.0/authentication/logout", nil, nil, true)
  local ok, message, detail
  if not status then
    ok, message, detail = network_failure(s, body, ctype, "POST", "/api/2.0/authentication/logout")
  elseif status >= 200 and status < 300 then
    ok = true
  elseif status == 404 then
    ok, message, detail = failure(s, "the portal has no logout endpoint (Workspace):"
      .. " the token stays valid until it expires", { status = status })
  else
    message, detail = response.failure(status, body, ctype, retry_after)
    ok, message, detail = failure(s, "logout failed: " .. message, detail)
  end
  s:close()
  return ok, message, detail
end

return M
