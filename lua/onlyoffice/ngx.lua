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
--
-- An API key needs none of that: its calls go straight out, and a refused key
-- is the caller's answer. OAuth tokens share the login's machinery: the current
-- access and refresh tokens live in the dict under a hash of the OAuth client,
-- and one refresh at a time, for all workers, rotates them (refresh_tokens).
local onlyoffice = require "onlyoffice"
local args = require "onlyoffice.args"
local cjson = require "cjson.safe"
local check_phase = require("onlyoffice.subrequest").check_phase
local creds = require "onlyoffice.ngx_credentials"

local M = {}

local DEFAULTS = { dict = "onlyoffice", location = "/_onlyoffice", login_wait = 75 }
for k, v in pairs(creds.ENV) do
  DEFAULTS[k] = v
end

local CONFIG_KEYS = { dict = "string", location = "string", url = "string", username = "string",
  credentials_file = "string", options = "table", login_wait = "number", on_refresh = "function" }
for k in pairs(creds.ENV) do
  CONFIG_KEYS[k] = "string"
end

-- Secrets that new{} refuses: they belong in the environment or credentials_file.
local SECRET_SETTINGS = { password = true, api_key = true, client_secret = true, refresh_token = true,
  access_token = true, client_id = true }

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
---      api_key_env=, client_id_env=, client_secret_env=, refresh_token_env=,
---      access_token_env=, credentials_file=, options=, login_wait=, on_refresh= } -> portal
function M.new(config)
  if config ~= nil and type(config) ~= "table" then
    error("onlyoffice.ngx: new takes a table of settings", 2)
  end
  local c = {}
  for k, v in pairs(DEFAULTS) do
    c[k] = v
  end
  for k, v in pairs(config or {}) do
    if SECRET_SETTINGS[k] then
      error(("onlyoffice.ngx: pass the %s through %s_env or credentials_file"):format(k, k), 2)
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
  local parts = { c.dict, c.url or "", c.username or "", c.credentials_file or "" }
  local names = {}
  for k in pairs(creds.ENV) do
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    parts[#parts + 1] = c[k]
  end
  local source = table.concat(parts, "\0")
  return setmetatable({ config = c, opts = opts, dict = dict, source = source,
    options_key = options_key(opts), own_idle = has_function and {} or nil }, Portal)
end

---------------------------------------------------------------------------
-- Credentials
---------------------------------------------------------------------------

-- The keyed hash of parts. The salt is added without evicting anything; a full
-- dict that lost it would change every key, so that is an error.
local function key_of(dict, parts)
  dict:safe_add("salt", ngx.sha1_bin(tostring(ngx.now()) .. ngx.worker.pid() .. tostring({}) .. math.random()))
  local salt = dict:get("salt")
  if not salt then
    return nil, "onlyoffice.ngx: the lua_shared_dict is full (give onlyoffice.ngx a dict of its own)"
  end
  return ngx.encode_base64(ngx.hmac_sha1(salt, table.concat(parts, "\0")))
end

-- What identifies a credential: a password login by its URL, user name and
-- password; an API key by itself; OAuth by its client and where its tokens are
-- configured (source), not by its refresh token, which rotates while the grant
-- stays the same. Two users of one OAuth app configure their tokens in two
-- places, and so share nothing.
local function key_for(dict, v, source)
  if v.mode == "key" then
    return key_of(dict, { "key", v.url, v.api_key })
  elseif v.mode == "oauth" then
    return key_of(dict, { "oauth", v.url, v.client_id, v.client_secret, source })
  end
  return key_of(dict, { v.url, v.username, v.password })
end

-- Per worker: credential source -> { key =, url =, mode = }. The environment
-- is fixed for a worker's life, so each is read once; a changed
-- credentials_file takes effect at the next reload, or once a 401 makes the
-- worker read it again.
local identities = {}

-- OAuth: the dict holds the current tokens of a credential. Configured tokens
-- it has not seen yet (a fresh start, a rotation on_refresh saved, or a grant
-- authorized anew, perhaps by another user) take over the access token, and
-- their refresh token is tried first at the next refresh, the dict's own after
-- it. Tokens seen already change nothing: a worker that reads them again after
-- a 401 does not put back a token the others found dead.
local function seed(p, id, v)
  local dict = p.dict
  local mark = key_of(dict, { v.refresh_token })
  if dict:get(id.seen) == mark or dict:get(id.spent) == mark then
    return
  end
  dict:safe_set(id.seen, mark)
  dict:safe_set(id.prefer, mark)
  dict:delete(id.expires)
  dict:delete(id.renew)
  if v.access_token then
    if v.expires_at then
      dict:set(id.expires, v.expires_at)
      dict:set(id.renew, v.expires_at - 60)
    end
    dict:set(id.token, v.access_token)
  else
    dict:delete(id.token)
  end
end

-- The shared dict's key for the credentials of p: a keyed hash (HMAC with a
-- random salt kept in the dict), so that the shared memory holds no plain hash
-- of a secret, and changed credentials get a key, and so a login, of their own.
-- nil, message, conflict when they are not configured as they must be.
local function identity(p, fresh)
  local known = identities[p.source]
  if known and not fresh then
    return known
  end
  local v, why, conflict = creds.read(p.config)
  if not v then
    return nil, why, conflict
  end
  local key
  key, why = key_for(p.dict, v, p.source)
  if not key then
    return nil, why
  end
  local same = known and known.key == key and known
  known = { key = key, url = v.url, mode = v.mode, api_key = v.api_key, token = "token:" .. key,
    fail = "fail:" .. key, lock = "lock:" .. key, failures = "failures:" .. key, pending = "pending:" .. key,
    refresh = "refresh:" .. key, expires = "expires:" .. key, renew = "renew:" .. key, spent = "spent:" .. key,
    seen = "seen:" .. key, prefer = "prefer:" .. key,
    idle = same and same.idle or {}, sets = same and same.sets or 0 }
  if v.mode == "oauth" then
    seed(p, known, v)
  end
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

-- The credential each pooled session sends (s:token() shows no API key or
-- OAuth token).
local sent = setmetatable({}, { __mode = "k" })

-- A session of p's options that sends token as id's kind of credential. OAuth
-- sessions get no refresh token: a refresh is shared (see refresh_tokens),
-- never a session's own.
local function new_session(p, id, token)
  if id.mode == "password" then
    return onlyoffice.session(id.url, token, p.opts)
  end
  local opts = {}
  for k, v in pairs(p.opts) do
    opts[k] = v
  end
  opts[id.mode == "key" and "api_key" or "access_token"] = token
  return onlyoffice.session(id.url, opts)
end

local function take(p, id, token)
  local list = idle_for(p, id) or {}
  while #list > 0 do
    local s = table.remove(list)
    if sent[s] == token then
      return s
    end
    s:close()
  end
  local s = new_session(p, id, token)
  sent[s] = token
  return s
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
  -- A refused refresh (invalid_grant, invalid_client) is one too; a 5xx or 429
  -- from the token endpoint is not.
  status = detail.kind == "auth" and detail.status
  if status and status < 500 and status ~= 429 then
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
    if k ~= "trace" and k ~= "trace_events" and k ~= "max_body" then
      opts[k] = v
    end
  end
  return opts
end

local CHANGED = "onlyoffice.ngx: the credentials changed during the call; try again"

-- The current credentials, if they still are those of id: a file that changed
-- since this worker read it makes the next call read it again, and log in (or
-- refresh) under its own key.
local function still(p, id, mode)
  local v, why = creds.read(p.config)
  if not v then
    return nil, why
  end
  if v.mode ~= mode or key_for(p.dict, v, p.source) ~= id.key then
    identities[p.source] = nil
    return nil, CHANGED
  end
  return v
end

local function log_in(p, id)
  local v, why = still(p, id, "password")
  if not v then
    return nil, why, { kind = "config" }
  end
  local s, err, detail = onlyoffice.login(v.url, v.username, v.password, login_options(p))
  if not s then
    return nil, err, detail
  end
  local token = s:token()
  s:close() -- made with the login's options: the helper's calls use sessions of their own
  return token
end

---------------------------------------------------------------------------
-- The one OAuth refresh: the same lock, waiters and back-off as a login
---------------------------------------------------------------------------

-- A session made only to refresh never sends its access token: without one
-- in the dict (a fresh start with none configured), this stands in for it.
local NO_ACCESS_TOKEN = "no-access-token-yet"

-- New tokens for refresh_token, through the module's own s:refresh().
local function refresh_with(p, v, refresh_token, access_token)
  local got
  local opts = login_options(p)
  opts.relogin = nil -- a login option
  opts.access_token, opts.refresh_token = access_token or NO_ACCESS_TOKEN, refresh_token
  opts.client_id, opts.client_secret = v.client_id, v.client_secret
  opts.on_refresh = function(tokens) got = tokens end
  local s = onlyoffice.session(v.url, opts)
  local ok, err, detail = s:refresh()
  s:close()
  if not ok then
    return nil, err, detail
  end
  return got
end

-- invalid_grant: the refresh token is revoked, expired or used already, for good.
local function spent_refusal(err, detail)
  return type(detail) == "table" and detail.status == 400 and tostring(err):find("invalid_grant", 1, true) ~= nil
end

-- Publishes new tokens for every worker: the refresh token before the access
-- token, so that a caller that sees the new access token also finds it.
local function store(p, id, tokens, used)
  local dict = p.dict
  -- Never evicted for room: the refresh token it replaces works no more.
  local ok, err = dict:safe_set(id.refresh, tokens.refresh_token or used) -- none new: the old one goes on
  if not ok then
    ngx.log(ngx.ERR, "onlyoffice.ngx: cannot keep the rotated refresh token in the shared dict (", err,
      "): only on_refresh has it; give onlyoffice.ngx a larger dict of its own")
  end
  dict:delete(id.prefer)
  if tokens.expires_at then
    dict:set(id.expires, tokens.expires_at)
    -- A minute early, or halfway for short lifetimes: never a refresh per call.
    dict:set(id.renew, tokens.expires_at - math.min(60, tokens.expires_in / 2))
  else
    dict:delete(id.expires)
    dict:delete(id.renew)
  end
  dict:set(id.token, tokens.access_token)
end

-- The helper's on_refresh hears of each rotation once, in the worker that
-- refreshed, under the lock (so two calls never race to persist two pairs).
-- The tokens are in the dict already: a callback that raises is logged and
-- costs nothing else.
local function tell(p, tokens, refresh_token)
  local on_refresh = p.config.on_refresh
  if not on_refresh then
    return
  end
  local copy = {}
  for k, x in pairs(tokens) do
    copy[k] = x
  end
  copy.refresh_token = refresh_token
  local ok, err = pcall(on_refresh, copy)
  if not ok then
    ngx.log(ngx.ERR, "onlyoffice.ngx: on_refresh raised (the new tokens are in the shared dict all the same): ",
      tostring(err))
  end
end

-- Under the lock: new tokens from the dict's refresh token, or the configured
-- one when the dict has none (a fresh start) or its own was refused and the
-- configured one is another, not yet spent (the user authorized again and
-- reloaded). A refresh token that was refused or rotated away is never tried
-- again. Returns the new access token.
local function refresh_tokens(p, id)
  local v, why = still(p, id, "oauth")
  if not v then
    return nil, why, { kind = "config" }
  end
  local dict = p.dict
  local current, access, configured = dict:get(id.refresh), dict:get(id.token), v.refresh_token
  local mark = key_of(dict, { configured })
  local function try(r)
    local tokens, err, detail = refresh_with(p, v, r, access)
    local refused = not tokens and spent_refusal(err, detail)
    if r == configured and (refused or (tokens and tokens.refresh_token and tokens.refresh_token ~= r)) then
      dict:set(id.spent, mark)
    end
    if refused and dict:get(id.refresh) == r then
      dict:delete(id.refresh)
    end
    return tokens, err, detail, refused
  end
  -- Configured tokens the dict had not seen go first; the dict's own, after.
  local order = { current, configured }
  if dict:get(id.prefer) == mark then
    order = { configured, current }
  end
  local tokens, err, detail, refused, used
  for i = 1, 2 do
    local r = order[i]
    if r and r ~= used and (r ~= configured or dict:get(id.spent) ~= mark) and (not used or refused) then
      used = r
      tokens, err, detail, refused = try(r)
    end
  end
  if not used then
    return nil, "onlyoffice.ngx: the refresh token was refused and the configured one is spent: authorize "
      .. "the application again, configure its new refresh_token and reload nginx", { kind = "auth", shared = false }
  end
  if not tokens then
    return nil, err, detail
  end
  store(p, id, tokens, used)
  tell(p, tokens, dict:get(id.refresh))
  return tokens.access_token
end

local function attempt_obtain(p, id, owner)
  if id.mode == "oauth" then
    -- A refresh cut off after the portal rotated the tokens would lose the
    -- grant: a client that goes away must not end this request before it
    -- does. (Refused when the handler set a callback of its own, or with
    -- lua_check_client_abort off, where nothing is cut off anyway.)
    pcall(ngx.on_abort, function() end)
  end
  local renewer = ngx.thread.spawn(keep_lease, p.dict, id.lock, owner)
  -- Marked before it is sent: should this request end before the login does (a
  -- client that went away), the next holder treats the attempt as failed.
  p.dict:set(id.pending, true, 3600)
  local ok, token, err, detail = pcall(id.mode == "oauth" and refresh_tokens or log_in, p, id)
  ngx.thread.kill(renewer) -- whatever happened: the request must not wait for it
  if not ok then
    error(token, 0)
  end
  return token, err, detail
end

-- Under the lock: log in (or refresh), publish the token or the failure,
-- release the lock. early: stale is an OAuth token that still works a while.
local function holder(p, id, owner, stale, early)
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
  if stale and token == stale and not early then -- refused once: calls during a back-off need not try it again
    dict:delete(id.token)
  end
  local ok, got, err, detail = pcall(attempt_obtain, p, id, owner)
  if not ok then -- a mistake (configuration, the internal location): raised, not shared
    dict:delete(id.pending)
    release(dict, id.lock, owner)
    error(got, 0)
  end
  dict:delete(id.pending)
  if got then
    dict:set(id.token, got)
    dict:delete(id.fail)
    dict:delete(id.failures)
    release(dict, id.lock, owner)
    return got
  end
  if type(detail) == "table" and (detail.kind == "config" or detail.shared == false) then -- the portal was not asked
    release(dict, id.lock, owner)
    return nil, err, detail
  end
  detail = type(detail) == "table" and detail or {}
  record_failure(p, id, count_failure(p, id), class_of(detail), err, detail)
  release(dict, id.lock, owner)
  return shared_failure(p, id, dict:get(id.fail) or "{}")
end

-- A token other than `stale`: the shared one, or one that this caller or
-- another (in any worker) gets by logging in or refreshing.
local function fresh_token(p, id, stale, early)
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
      return holder(p, id, owner, stale, early)
    end
    if ngx.now() >= deadline then
      return nil, "onlyoffice.ngx: timed out after " .. p.config.login_wait .. " s waiting for another "
        .. "caller's " .. (id.mode == "oauth" and "token refresh" or "login"), { kind = "timeout", timeout = true }
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

-- The identity of p's credentials; raises (at the caller of portal:get) when
-- more than one kind is configured, a mistake no retry repairs.
local function identity_or_raise(p, fresh)
  local id, why, conflict = identity(p, fresh)
  if conflict then
    error(why, 4)
  end
  return id, why
end

-- The token for a call: an OAuth token due for renewal is refreshed first,
-- and while that fails it serves on until it expires.
local function current_token(p, id)
  if id.mode == "oauth" then
    local dict = p.dict
    local token, renew = dict:get(id.token), dict:get(id.renew)
    if token and renew and ngx.time() >= renew then
      local newer, err, detail = fresh_token(p, id, token, true)
      if newer or ngx.time() >= (dict:get(id.expires) or 0) then
        return newer, err, detail
      end
      return token
    end
  end
  return fresh_token(p, id, nil)
end

-- A 401 that may mean the token is dead: a login's (kind "http") or an OAuth
-- token's (kind "auth": its sessions cannot refresh on their own).
local function refused(id, detail)
  return type(detail) == "table" and detail.status == 401 and detail.kind == (id.mode == "oauth" and "auth" or "http")
end

-- name is the session method that makes the call, with its arguments.
local function call(p, name, a, b, c)
  check_phase(ngx, 3) -- before anything is read, locked or sent; 3: the caller of portal:get
  PRECHECK[name](a, b, c)
  local id, why = identity_or_raise(p)
  if not id then
    return nil, why, { kind = "config" }
  end
  local data, info, detail
  if id.mode == "key" then
    -- No login, nothing shared: a refused key's 401 is final (kind "auth").
    data, info, detail = attempt(p, id, id.api_key, name, a, b, c)
    return data, info, detail
  end
  local token, err
  token, err, detail = current_token(p, id)
  if not token then
    return nil, err, detail
  end
  data, info, detail = attempt(p, id, token, name, a, b, c)
  if data == nil and refused(id, detail) and not token_works(p, id, token) then
    -- Revoked or expired: one new login (or refresh) for all workers, then this
    -- call once more. The credentials are read again: a changed file takes effect here.
    local now
    now, why = identity_or_raise(p, true)
    if not now then
      return nil, why, { kind = "config" }
    elseif now.mode == "key" then
      data, info, detail = attempt(p, now, now.api_key, name, a, b, c)
      return data, info, detail
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
