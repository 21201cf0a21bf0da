-- onlyoffice.ngx: a service account's portal calls from nginx request handlers.
--
--   local portal = require("onlyoffice.ngx").new{ dict = "onlyoffice" }
--   local me, err, detail = portal:get("people/@self")
--
-- Calls go out as subrequests to an internal location that proxies to the
-- portal (transport "ngx", see onlyoffice.subrequest): the handler yields, the
-- worker keeps serving, and a graceful reload or quit waits for calls in flight
-- as it waits for any proxied request.
--
-- The token lives in a lua_shared_dict under a keyed hash of the credentials
-- (portal URL, user name, password), so every worker and every helper with the
-- same credentials shares one login, and other credentials never get its token.
-- A login is attempted by one caller at a time across all workers, under a lock
-- that its holder keeps alive while it runs; the others wait without holding
-- anything but a timer, and take its result, success or failure. A failure
-- stays shared for a back-off that grows with each failure and never allows
-- more attempts than the portal's brute-force protection tolerates.
local onlyoffice = require "onlyoffice"
local args = require "onlyoffice.args"
local cjson = require "cjson.safe"
local check_phase = require("onlyoffice.subrequest").check_phase

local M = {}

local DEFAULTS = {
  dict = "onlyoffice", location = "/_onlyoffice", login_wait = 75,
  url_env = "ONLYOFFICE_URL", username_env = "ONLYOFFICE_USER", password_env = "ONLYOFFICE_PASSWORD",
}

local CONFIG_KEYS = { dict = "string", location = "string", url = "string", username = "string",
  url_env = "string", username_env = "string", password_env = "string", credentials_file = "string",
  options = "table", login_wait = "number" }

-- The login lock is a lease with an owner: its holder renews it while the login
-- runs, so a login slower than any fixed wait still is the only one, and a
-- worker that dies holding it (or whose event loop is blocked that long) frees
-- it within LEASE seconds.
local LEASE, RENEW = 5, 1

-- Back-off after a failed login, in seconds, doubling per failure up to the
-- cap. A rejected password starts at 15 s: at most four attempts in any 60 s,
-- below DocSpace's default of more than five per 60 s that blocks the account
-- for 60 s. A refusal by that block waits out the block itself.
local BACKOFF = {
  credentials = { 15, 300 }, -- the portal refused the user name or password
  throttled = { 60, 300 }, -- the portal's brute-force block
  other = { 1, 30 }, -- no answer, a 5xx, a callback that raised: retried sooner
}

-- Idle sessions kept per worker and helper options; a burst beyond it closes
-- the rest. Sets of options pooled per worker and credentials: helpers made
-- with ever new options (a user agent per client, say) do not grow the worker.
local MAX_IDLE, MAX_OPTION_SETS = 32, 16

---------------------------------------------------------------------------
-- Configuration (checked in new, before any call)
---------------------------------------------------------------------------

-- The options that change a session's behaviour, as text. Functions (trace)
-- have no stable text: a helper with one keeps its own sessions (see idle_for).
local function options_key(v)
  if type(v) ~= "table" then
    return type(v) .. ":" .. tostring(v)
  end
  local keys = {}
  for k, item in pairs(v) do
    if type(item) ~= "function" then
      keys[#keys + 1] = tostring(k)
    end
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
  if c.url then
    args.base_url(c.url, 2)
  end
  local opts = session_options(c, 2)
  local dict = ngx.shared[c.dict]
  if not dict then
    error("onlyoffice.ngx: no lua_shared_dict named " .. c.dict, 2)
  end
  local has_function = false
  for _, v in pairs(opts) do
    has_function = has_function or type(v) == "function"
  end
  -- Where the credentials come from; the credentials themselves are read on
  -- the first call (see identity).
  local source = table.concat({ c.dict, c.url or "", c.url_env, c.username or "", c.username_env,
    c.password_env, c.credentials_file or "" }, "\0")
  return setmetatable({ config = c, opts = opts, dict = dict, source = source,
    options_key = options_key(opts), own_idle = has_function and {} or nil }, Portal)
end

---------------------------------------------------------------------------
-- Credentials
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
  local ok, why = pcall(args.base_url, url, 1)
  if not ok then
    return nil, "onlyoffice.ngx: " .. tostring(why):gsub("^[^:]*:%d+: ", "")
  end
  return url, username, password
end

-- The keyed hash of a set of credentials. The salt is added without evicting
-- anything; a full dict that lost it would change every key, so that is an error.
local function key_of(dict, url, username, password)
  dict:safe_add("salt", ngx.sha1_bin(tostring(ngx.now()) .. ngx.worker.pid() .. tostring({}) .. math.random()))
  local salt = dict:get("salt")
  if not salt then
    return nil, "onlyoffice.ngx: the lua_shared_dict is full (give onlyoffice.ngx a dict of its own)"
  end
  return ngx.encode_base64(ngx.hmac_sha1(salt, url .. "\0" .. username .. "\0" .. password))
end

-- Per worker: credential source -> { key =, url = }. The environment is fixed
-- for a worker's life, so each is read once; a changed credentials_file takes
-- effect at the next reload, or once a 401 makes the worker read it again.
local identities = {}

-- The shared dict's key for the credentials of p: a keyed hash (HMAC with a
-- random salt kept in the dict), so that the shared memory holds no plain hash
-- of the password, and changed credentials get a key, and so a login, of their own.
local function identity(p, fresh)
  local known = identities[p.source]
  if known and not fresh then
    return known
  end
  local url, username, password = credentials(p.config)
  if not url then
    return nil, username
  end
  local key, why = key_of(p.dict, url, username, password)
  if not key then
    return nil, why
  end
  local same = known and known.key == key and known
  known = { key = key, url = url, token = "token:" .. key, fail = "fail:" .. key, lock = "lock:" .. key,
    failures = "failures:" .. key, pending = "pending:" .. key, idle = same and same.idle or {},
    sets = same and same.sets or 0 }
  identities[p.source] = known
  return known
end

---------------------------------------------------------------------------
-- Sessions: a few per worker and helper options, one per call in flight
---------------------------------------------------------------------------

-- Sessions waiting for a call, per credentials (id.idle) and options. A helper
-- whose options hold a function keeps its own, which go with it; the others
-- share them per worker.
local function idle_for(p, id)
  if p.own_idle then
    return p.own_idle
  end
  local list = id.idle[p.options_key]
  if not list then
    if id.sets >= MAX_OPTION_SETS then
      return nil -- sessions of one more set of options are closed after each call
    end
    list = {}
    id.idle[p.options_key] = list
    id.sets = id.sets + 1
  end
  return list
end

local function take(p, id, token)
  local list = idle_for(p, id) or {}
  while #list > 0 do
    local s = table.remove(list)
    if s:token() == token then
      return s
    end
    s:close()
  end
  return onlyoffice.session(id.url, token, p.opts)
end

local function give_back(p, id, s)
  local list = idle_for(p, id)
  if list and #list < MAX_IDLE then
    list[#list + 1] = s
  else
    s:close()
  end
end

---------------------------------------------------------------------------
-- The one login
---------------------------------------------------------------------------

local function shared_failure(p, id, record)
  local f = cjson.decode(record) or {}
  return nil, f.message or "login failed", { kind = f.kind or "login", status = f.status,
    throttled = f.throttled, shared = true, retry_in = math.max(0, p.dict:ttl(id.fail) or 0) }
end

-- Which back-off a failed login gets.
local function class_of(detail)
  if detail.throttled then
    return "throttled"
  end
  -- Any refusal counts as a refused password (DocSpace says 401, Workspace a 500
  -- whose words may be translated), except what gateways answer when the
  -- portal is down, and failures with no answer at all.
  local status = detail.kind == "login" and detail.status
  if status and status ~= 502 and status ~= 503 and status ~= 504 then
    return "credentials"
  end
  return "other"
end

-- One more failure for the back-off; the hour runs from the latest one.
local function count_failure(p, id)
  local failures = (p.dict:get(id.failures) or 0) + 1
  p.dict:set(id.failures, failures, 3600)
  return failures
end

-- Shares a failure, the `failures`-th in a row, for its class's back-off.
local function record_failure(p, id, failures, class, message, detail)
  local first, cap = BACKOFF[class][1], BACKOFF[class][2]
  p.dict:set(id.fail, cjson.encode({ message = message, kind = detail.kind, status = detail.status,
    throttled = detail.throttled }), math.min(cap, first * 2 ^ (failures - 1)))
end

local function keep_lease(dict, lock, owner)
  while true do
    ngx.sleep(RENEW)
    if dict:get(lock) ~= owner then
      return
    end
    dict:set(lock, owner, LEASE)
  end
end

local function release(dict, lock, owner)
  if dict:get(lock) == owner then -- not a lock another caller took after ours lapsed
    dict:delete(lock)
  end
end

-- The login's own options: the helper's, less what could fail it locally (a
-- small max_body, a trace callback that raises), since its result is shared
-- with every helper of the same credentials.
local function login_options(p)
  local opts = { relogin = false }
  for k, v in pairs(p.opts) do
    if k ~= "trace" and k ~= "max_body" then
      opts[k] = v
    end
  end
  return opts
end

local function log_in(p, id)
  local url, username, password = credentials(p.config)
  if not url then
    return nil, username, { kind = "config" }
  end
  if key_of(p.dict, url, username, password) ~= id.key then -- the file changed since this worker read it
    identities[p.source] = nil -- the next call reads it again and logs in under its own key
    return nil, "onlyoffice.ngx: the credentials changed during the call; try again", { kind = "config" }
  end
  return onlyoffice.login(url, username, password, login_options(p))
end

local function attempt_login(p, id, owner)
  local renewer = ngx.thread.spawn(keep_lease, p.dict, id.lock, owner)
  -- Marked before it is sent: should this request end before the login does (a
  -- client that went away), the next holder treats the attempt as failed.
  p.dict:set(id.pending, true, 3600)
  local ok, s, err, detail = pcall(log_in, p, id)
  ngx.thread.kill(renewer) -- whatever happened: the request must not wait for it
  if not ok then
    error(s, 0)
  end
  return s, err, detail
end

-- Under the lock: log in, publish the token or the failure, release the lock.
local function holder(p, id, owner, stale)
  local dict = p.dict
  local token = dict:get(id.token)
  local fresh, failed = token ~= stale and token, dict:get(id.fail)
  if fresh or failed then -- another worker's login ended meanwhile
    release(dict, id.lock, owner)
    if fresh then
      return fresh
    end
    return shared_failure(p, id, failed)
  end
  if dict:get(id.pending) then
    -- The last holder's request ended (its client went away) before its login
    -- did: the portal may have counted the attempt. It counts as a failure for
    -- the back-off; a second one in a row waits the back-off out.
    dict:delete(id.pending)
    local failures = count_failure(p, id)
    if failures >= 2 then
      record_failure(p, id, failures, "credentials", "onlyoffice.ngx: earlier login attempts did not finish "
        .. "(their requests ended); not trying again before the back-off", { kind = "login" })
      release(dict, id.lock, owner)
      return shared_failure(p, id, dict:get(id.fail) or "{}")
    end
  end
  if stale and token == stale then -- refused once: calls during a back-off need not try it again
    dict:delete(id.token)
  end
  local ok, s, err, detail = pcall(attempt_login, p, id, owner)
  if not ok then -- a mistake (configuration, the internal location): raised, not shared
    dict:delete(id.pending)
    release(dict, id.lock, owner)
    error(s, 0)
  end
  dict:delete(id.pending)
  if s then
    token = s:token()
    dict:set(id.token, token)
    dict:delete(id.fail)
    dict:delete(id.failures)
    release(dict, id.lock, owner)
    s:close() -- made with the login's options: the helper's calls use sessions of their own
    return token
  end
  if type(detail) == "table" and detail.kind == "config" then -- the portal was not asked
    release(dict, id.lock, owner)
    return nil, err, detail
  end
  detail = type(detail) == "table" and detail or {}
  record_failure(p, id, count_failure(p, id), class_of(detail), err, detail)
  release(dict, id.lock, owner)
  return shared_failure(p, id, dict:get(id.fail) or "{}")
end

-- A token other than `stale`: the shared one, or one that this caller or
-- another (in any worker) gets by logging in.
local function fresh_token(p, id, stale)
  local dict = p.dict
  local token = dict:get(id.token)
  if token and token ~= stale then -- the usual case, before anything else is made
    return token
  end
  local deadline, pause = ngx.now() + p.config.login_wait, 0.005
  local owner = ngx.worker.pid() .. ":" .. tostring({}) .. ":" .. ngx.now()
  while true do
    token = dict:get(id.token)
    if token and token ~= stale then
      return token
    end
    local failed = dict:get(id.fail)
    if failed then
      return shared_failure(p, id, failed)
    end
    if dict:add(id.lock, owner, LEASE) then
      return holder(p, id, owner, stale)
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

local function attempt(p, id, token, name, a, b, c)
  local s = take(p, id, token)
  local data, info, detail = s[name](s, a, b, c)
  give_back(p, id, s)
  return data, info, detail
end

-- The arguments' checks, made before any login so that a mistake raises at
-- the caller's line (level 4 from here: precheck, call, portal:get, caller).
local PRECHECK = {
  get = function(path, query)
    args.target(path, query, 4)
  end,
  post = function(path, body, query)
    args.target(path, query, 4)
    if body ~= nil then
      args.body(body, 4)
    end
  end,
  request = function(method, path, opts)
    method = args.method(method, 4)
    opts = args.request_options(opts, 4)
    args.target(path, opts.query, 4)
    if opts.headers ~= nil or opts.timeout ~= nil then
      error("onlyoffice.ngx: a request's own headers and timeout are set by the internal location", 4)
    end
    if opts.body ~= nil then
      if method == "GET" or method == "HEAD" then
        error(method .. " requests have no body", 4)
      end
      args.body(opts.body, 4)
    end
  end,
}
PRECHECK.delete, PRECHECK.put = PRECHECK.get, PRECHECK.post

-- Whether the portal still takes token: a 401 from one endpoint may be that
-- endpoint's own refusal, which must not cost every caller a new login.
local function token_works(p, id, token)
  local me, _, detail = attempt(p, id, token, "get", "people/@self")
  return me ~= nil or not (type(detail) == "table" and detail.status == 401)
end

-- name is the session method that makes the call, with its arguments.
local function call(p, name, a, b, c)
  check_phase(ngx, 3) -- before anything is read, locked or sent; 3: the caller of portal:get
  PRECHECK[name](a, b, c)
  local id, why = identity(p)
  if not id then
    return nil, why, { kind = "config" }
  end
  local token, err, detail = fresh_token(p, id, nil)
  if not token then
    return nil, err, detail
  end
  local data, info
  data, info, detail = attempt(p, id, token, name, a, b, c)
  if data == nil and type(detail) == "table" and detail.status == 401 and detail.kind == "http"
    and not token_works(p, id, token) then
    -- Revoked or expired: one new login for all workers, then this call once
    -- more. The credentials are read again: a changed file takes effect here.
    local now
    now, why = identity(p, true)
    if not now then
      return nil, why, { kind = "config" }
    end
    token, err, detail = fresh_token(p, now, now.key == id.key and token or nil)
    if not token then
      return nil, err, detail
    end
    data, info, detail = attempt(p, now, token, name, a, b, c)
  end
  return data, info, detail
end

--- portal:request(method, path [, { query=, body= }]) -> data, info | nil, message, detail
function Portal:request(method, path, opts)
  local data, info, detail = call(self, "request", method, path, opts)
  return data, info, detail -- not a tail call: error levels count this frame
end

--- portal:get(path [, query]), portal:delete(path [, query])
function Portal:get(path, query)
  local data, info, detail = call(self, "get", path, query)
  return data, info, detail -- not a tail call: error levels count this frame
end

function Portal:delete(path, query)
  local data, info, detail = call(self, "delete", path, query)
  return data, info, detail -- not a tail call: error levels count this frame
end

--- portal:post(path [, body [, query]]), portal:put(path [, body [, query]])
function Portal:post(path, body, query)
  local data, info, detail = call(self, "post", path, body, query)
  return data, info, detail -- not a tail call: error levels count this frame
end

function Portal:put(path, body, query)
  local data, info, detail = call(self, "put", path, body, query)
  return data, info, detail -- not a tail call: error levels count this frame
end

return M
