-- onlyoffice.ngx: a service account's portal calls from nginx request handlers.
--
--   local portal = require("onlyoffice.ngx").new{ dict = "onlyoffice" }
--   local me, err, detail = portal:get("people/@self")
--
-- Calls go out as subrequests to an internal location that proxies to the
-- portal (transport "ngx", see onlyoffice.subrequest): the handler yields, the
-- worker keeps serving, and a graceful reload or quit waits for calls in flight
-- as it waits for any proxied request. The token lives in a lua_shared_dict:
-- one login serves every worker. A login is attempted by one caller at a time
-- across all workers, under a lock that its holder keeps alive while it runs;
-- the others wait without holding anything but a timer, and take its result,
-- success or failure. A failure stays shared for a back-off that grows with
-- each failure and never allows more attempts than the portal's brute-force
-- protection tolerates.
local onlyoffice = require "onlyoffice"
local args = require "onlyoffice.args"
local cjson = require "cjson.safe"

local M = {}

local DEFAULTS = {
  dict = "onlyoffice", location = "/_onlyoffice", login_wait = 75,
  url_env = "ONLYOFFICE_URL", username_env = "ONLYOFFICE_USER", password_env = "ONLYOFFICE_PASSWORD",
}

local CONFIG_KEYS = { dict = "string", location = "string", url = "string", username = "string",
  url_env = "string", username_env = "string", password_env = "string", credentials_file = "string",
  options = "table", login_wait = "number" }

-- The login lock is a lease: its holder renews it while the login runs, so a
-- login slower than any fixed wait still is the only one, and a worker that
-- dies holding it frees it within LEASE seconds.
local LEASE, RENEW = 3, 1

-- Back-off after a failed login, in seconds, doubling per failure up to the
-- cap. A rejected password starts at 15 s: at most four attempts in any 60 s,
-- below DocSpace's default of more than five per 60 s that blocks the account
-- for 60 s. A refusal by that block waits out the block itself.
local BACKOFF = {
  credentials = { 15, 300 }, -- the portal answered the login with a refusal
  throttled = { 60, 300 }, -- the portal's brute-force block
  other = { 1, 30 }, -- network, 5xx, configuration: retried sooner
}

---------------------------------------------------------------------------
-- Configuration (checked in new, before any call)
---------------------------------------------------------------------------

-- Options change a session's behaviour: the cache key holds all of them.
local function options_key(v)
  if type(v) ~= "table" then
    return type(v) .. ":" .. tostring(v)
  end
  local keys = {}
  for k in pairs(v) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    parts[i] = k .. "=" .. options_key(v[k] == nil and v[tonumber(k)] or v[k])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function session_options(c, level)
  local opts = {}
  for k, v in pairs(c.options or {}) do
    opts[k] = v
  end
  for _, k in ipairs({ "transport", "location", "code", "relogin" }) do
    if opts[k] ~= nil then
      error(("onlyoffice.ngx: option %q is set by onlyoffice.ngx"):format(k), level + 1)
    end
  end
  opts.transport, opts.location = "ngx", c.location
  args.options(opts, level + 1) -- raises for typos and curl-only options
  return opts
end

local Portal = {}
Portal.__index = Portal

--- new{ dict=, location=, url=, username=, url_env=, username_env=, password_env=,
---      credentials_file=, options=, login_wait= } -> portal
function M.new(config)
  if config ~= nil and type(config) ~= "table" then
    error("onlyoffice.ngx: new takes a table of settings", 2)
  end
  local c = {}
  for k, v in pairs(DEFAULTS) do
    c[k] = v
  end
  for k, v in pairs(config or {}) do
    if k == "password" then
      error("onlyoffice.ngx: pass the password through password_env or credentials_file", 2)
    elseif k == "pool" then
      error("onlyoffice.ngx: calls no longer run in a thread pool; drop \"pool\" and add the internal "
        .. "location (see examples/nginx/onlyoffice.conf)", 2)
    end
    if CONFIG_KEYS[k] ~= type(v) then
      error(("onlyoffice.ngx: %s %q"):format(CONFIG_KEYS[k] and "wrong type for" or "unknown setting", k), 2)
    end
    c[k] = v
  end
  if not (c.login_wait >= 1 and c.login_wait <= 3600) then
    error("onlyoffice.ngx: login_wait must be from 1 to 3600 seconds", 2)
  end
  local opts = session_options(c, 2)
  local dict = ngx.shared[c.dict]
  if not dict then
    error("onlyoffice.ngx: no lua_shared_dict named " .. c.dict, 2)
  end
  local key = table.concat({ c.url or "", c.url_env, c.username or "", c.username_env, c.password_env,
    c.credentials_file or "", options_key(opts) }, "\0")
  return setmetatable({ config = c, opts = opts, dict = dict, key = key, token_key = "token:" .. key,
    fail_key = "fail:" .. key, lock_key = "lock:" .. key }, Portal)
end

---------------------------------------------------------------------------
-- Credentials, read only when a login needs them
---------------------------------------------------------------------------

-- "key = value" lines; '#' starts a comment.
local function read_credentials(path)
  local private, why = require("onlyoffice.core").private_file(path)
  if not private then
    return nil, "credentials_file: " .. why
  end
  local f, err = io.open(path, "r")
  if not f then
    return nil, "cannot read credentials_file: " .. tostring(err)
  end
  local t = {}
  for line in f:lines() do
    local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if k and not line:match("^%s*#") then
      t[k] = v
    end
  end
  f:close()
  return t
end

local function credentials(c)
  local file = {}
  if c.credentials_file then
    local t, err = read_credentials(c.credentials_file)
    if not t then
      return nil, "onlyoffice.ngx: " .. err
    end
    file = t
  end
  local url = c.url or file.url or os.getenv(c.url_env)
  local username = c.username or file.username or os.getenv(c.username_env)
  local password = file.password or os.getenv(c.password_env)
  if not url or not username or not password then
    return nil, "onlyoffice.ngx: url, username and password are not all configured (set "
      .. c.url_env .. ", " .. c.username_env .. " and " .. c.password_env .. " with nginx's env directive, "
      .. "or use credentials_file)"
  end
  return url, username, password
end

-- Which credentials a shared failure was for: a keyed hash, so that a fixed
-- password is tried at once while the shared memory holds no plain hash of it.
local function fingerprint(dict, url, username, password)
  dict:add("salt", ngx.sha1_bin(tostring(ngx.now()) .. ngx.worker.pid() .. tostring({}) .. math.random()))
  return ngx.encode_base64(ngx.hmac_sha1(dict:get("salt") or "", url .. "\0" .. username .. "\0" .. password))
end

---------------------------------------------------------------------------
-- Sessions: a few per worker and portal, one per call in flight
---------------------------------------------------------------------------

local idle = {} -- key -> sessions waiting for a call
local urls = {} -- key -> the portal URL the sessions use

local function take(p, token)
  local list = idle[p.key]
  while list and #list > 0 do
    local s = table.remove(list)
    if s:token() == token then
      return s
    end
    s:close()
  end
  local url = urls[p.key]
  if not url then
    local u, err = credentials(p.config)
    if not u then
      return nil, err
    end
    url = u
    urls[p.key] = url
  end
  local s = onlyoffice.session(url, token, p.opts)
  return s
end

-- Idle sessions kept per portal and worker; a burst beyond it closes the rest.
local MAX_IDLE = 64

local function give_back(p, s)
  local list = idle[p.key]
  if not list then
    list = {}
    idle[p.key] = list
  end
  if #list < MAX_IDLE then
    list[#list + 1] = s
  else
    s:close()
  end
end

---------------------------------------------------------------------------
-- The one login
---------------------------------------------------------------------------

local function shared_failure(p, record)
  local f = cjson.decode(record) or {}
  return nil, f.message or "login failed", { kind = f.kind or "login", status = f.status,
    throttled = f.throttled, shared = true, retry_in = math.max(0, p.dict:ttl(p.fail_key) or 0) }
end

-- Whether a recorded failure is for the credentials configured now.
local function failure_applies(p, record)
  local f = cjson.decode(record) or {}
  if not f.fingerprint then
    return true
  end
  local url, username, password = credentials(p.config)
  return not url or fingerprint(p.dict, url, username, password) == f.fingerprint
end

local function record_failure(p, message, detail, mark)
  local d = type(detail) == "table" and detail or {}
  local class = d.throttled and "throttled" or ((d.kind == "login" and d.status) and "credentials" or "other")
  local failures = p.dict:incr("failures:" .. p.key, 1, 0, 3600) or 1
  local first, cap = BACKOFF[class][1], BACKOFF[class][2]
  local wait = math.min(cap, first * 2 ^ (failures - 1))
  p.dict:set(p.fail_key, cjson.encode({ message = message, kind = d.kind, status = d.status,
    throttled = d.throttled, fingerprint = mark }), wait)
end

local function keep_lease(dict, lock)
  while true do
    ngx.sleep(RENEW)
    dict:replace(lock, true, LEASE)
  end
end

local function log_in(p)
  local url, username, password = credentials(p.config)
  if not url then
    return nil, username, { kind = "config" }
  end
  local mark = fingerprint(p.dict, url, username, password)
  urls[p.key] = url
  local opts = { relogin = false }
  for k, v in pairs(p.opts) do
    opts[k] = v
  end
  local s, err, detail = onlyoffice.login(url, username, password, opts)
  return s, err, detail, mark
end

-- Under the lock: log in, publish the token or the failure, release the lock.
local function holder(p, stale)
  local dict, lock = p.dict, p.lock_key
  local token = dict:get(p.token_key)
  if token and token ~= stale then -- another worker's login finished meanwhile
    dict:delete(lock)
    return token
  end
  local renewer = ngx.thread.spawn(keep_lease, dict, lock)
  local ok, s, err, detail, mark = pcall(log_in, p)
  ngx.thread.kill(renewer)
  if not ok then -- a raised error is not a portal's answer: nothing to back off from
    dict:delete(lock)
    return nil, "onlyoffice.ngx: " .. tostring(s), { kind = "config" }
  end
  if s then
    token = s:token()
    dict:set(p.token_key, token)
    dict:delete(p.fail_key)
    dict:delete("failures:" .. p.key)
    dict:delete(lock)
    give_back(p, s)
    return token
  end
  if type(detail) == "table" and detail.kind == "config" then -- the portal was not asked
    dict:delete(lock)
    return nil, err, detail
  end
  record_failure(p, err, detail, mark)
  dict:delete(lock)
  return shared_failure(p, dict:get(p.fail_key) or "{}")
end

-- A token other than `stale`: the shared one, or one that this caller or
-- another (in any worker) gets by logging in.
local function fresh_token(p, stale)
  local dict, key = p.dict, p.key
  local token = dict:get(p.token_key)
  if token and token ~= stale then -- the usual case, before anything else is made
    return token
  end
  local deadline, pause = ngx.now() + p.config.login_wait, 0.005
  while true do
    token = dict:get(p.token_key)
    if token and token ~= stale then
      return token
    end
    local failed = dict:get(p.fail_key)
    if failed then
      if failure_applies(p, failed) then
        return shared_failure(p, failed)
      end
      dict:delete(p.fail_key)
      dict:delete("failures:" .. key)
    end
    if dict:add(p.lock_key, true, LEASE) then
      return holder(p, stale)
    end
    if ngx.now() >= deadline then
      return nil, "onlyoffice.ngx: timed out after " .. p.config.login_wait .. " s waiting for another "
        .. "caller's login", { kind = "timeout", timeout = true }
    end
    ngx.sleep(pause)
    pause = math.min(pause * 2, 0.1)
  end
end

---------------------------------------------------------------------------
-- Calls
---------------------------------------------------------------------------

local function attempt(p, token, name, a, b, c)
  local s, err = take(p, token)
  if not s then
    return nil, err, { kind = "config" }
  end
  local data, info, detail = s[name](s, a, b, c)
  give_back(p, s)
  return data, info, detail
end

-- name is the session method that makes the call, with its arguments.
local function call(p, name, a, b, c)
  local token, err, detail = fresh_token(p, nil)
  if not token then
    return nil, err, detail
  end
  local data, info
  data, info, detail = attempt(p, token, name, a, b, c)
  if data == nil and type(detail) == "table" and detail.status == 401 and detail.kind == "http" then
    -- Revoked or expired: one new login for all workers, then this call once more.
    token, err, detail = fresh_token(p, token)
    if not token then
      return nil, err, detail
    end
    data, info, detail = attempt(p, token, name, a, b, c)
  end
  return data, info, detail
end

--- portal:request(method, path [, { query=, body= }]) -> data, info | nil, message, detail
function Portal:request(method, path, opts)
  return call(self, "request", method, path, opts)
end

--- portal:get(path [, query]), portal:delete(path [, query])
function Portal:get(path, query)
  return call(self, "get", path, query)
end

function Portal:delete(path, query)
  return call(self, "delete", path, query)
end

--- portal:post(path [, body [, query]]), portal:put(path [, body [, query]])
function Portal:post(path, body, query)
  return call(self, "post", path, body, query)
end

function Portal:put(path, body, query)
  return call(self, "put", path, body, query)
end

return M
