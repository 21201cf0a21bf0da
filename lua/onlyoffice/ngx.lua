-- onlyoffice.ngx: the module inside nginx/OpenResty without blocking the event loop.
--
-- In a request handler:
--   local portal = require("onlyoffice.ngx").new{ pool = "onlyoffice", dict = "onlyoffice" }
--   local me, err, detail = portal:get("people/@self")
--
-- Each call runs in ngx.run_worker_thread: libcurl blocks an OS thread from the
-- pool, never the worker's event loop. Only plain data crosses: the portal's
-- name, the request, and the answer. The credentials are read inside the thread
-- VM from the environment (`env` directives) or a file, so they never travel in
-- call arguments. The token lives in a lua_shared_dict: one login serves every
-- worker, and a 401 anywhere leads to one re-login that all of them then use.
local M = {}

local DEFAULTS = {
  pool = "onlyoffice", dict = "onlyoffice",
  url_env = "ONLYOFFICE_URL", username_env = "ONLYOFFICE_USER", password_env = "ONLYOFFICE_PASSWORD",
}
local LOGIN_WAIT = 30 -- seconds a thread waits for another worker's login

---------------------------------------------------------------------------
-- Handler side (the worker's VM)
---------------------------------------------------------------------------

local Portal = {}
Portal.__index = Portal

local CONFIG_KEYS = { pool = "string", dict = "string", url = "string", username = "string",
  url_env = "string", username_env = "string", password_env = "string", credentials_file = "string",
  options = "table" }

--- new{ pool=, dict=, url=, username=, password_env=, credentials_file=, options= }
function M.new(config)
  config = config or {}
  local c = {}
  for k, v in pairs(DEFAULTS) do
    c[k] = v
  end
  for k, v in pairs(config) do
    if k == "password" then
      error("onlyoffice.ngx: pass the password through password_env or credentials_file", 2)
    end
    if CONFIG_KEYS[k] ~= type(v) then
      error(("onlyoffice.ngx: %s %q"):format(CONFIG_KEYS[k] and "wrong type for" or "unknown setting", k), 2)
    end
    c[k] = v
  end
  if c.options then
    -- Checked here, in the handler: a typo must not first show up inside a thread.
    require("onlyoffice.args").options(c.options, 2)
  end
  return setmetatable({ config = c }, Portal)
end

--- portal:request(method, path [, { query=, body=, headers= }]) -> data, info | nil, message, detail
function Portal:request(method, path, opts)
  local ok, a, b, c = ngx.run_worker_thread(self.config.pool, "onlyoffice.ngx", "call",
    self.config, method, path, opts)
  if not ok then
    local busy = a == "no available Lua vm"
    return nil, "onlyoffice.ngx: " .. tostring(a), { kind = busy and "busy" or "config", busy = busy or nil }
  end
  return a, b, c
end

function Portal:get(path, query)
  return self:request("GET", path, { query = query })
end

function Portal:delete(path, query)
  return self:request("DELETE", path, { query = query })
end

function Portal:post(path, body, query)
  return self:request("POST", path, { body = body, query = query })
end

function Portal:put(path, body, query)
  return self:request("PUT", path, { body = body, query = query })
end

---------------------------------------------------------------------------
-- Thread side (a pooled thread VM; module state persists between calls)
---------------------------------------------------------------------------

local sessions = {} -- portal key -> session, kept with its connection

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
      return nil, err
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

-- A token other than `stale`, logging in if no worker has one: the shared dict's
-- add() is the lock, so concurrent threads in all workers cause one login.
local function fresh_token(onlyoffice, dict, c, key, stale)
  local core = require "onlyoffice.core"
  -- Long enough for the holder's own login to time out first.
  local o = c.options or {}
  local deadline = os.time() + math.max(LOGIN_WAIT, (o.timeout or 60) + (o.connect_timeout or 10) + 5)
  while true do
    local token = dict:get("token:" .. key)
    if token and token ~= stale then
      return token
    end
    if dict:add("lock:" .. key, true, math.max(LOGIN_WAIT, (o.timeout or 60) + (o.connect_timeout or 10) + 5)) then
      token = dict:get("token:" .. key)
      if token and token ~= stale then
        dict:delete("lock:" .. key)
        return token
      end
      local url, username, password = credentials(c)
      if not url then
        dict:delete("lock:" .. key)
        return nil, username, { kind = "config" }
      end
      local opts = { relogin = false }
      for k, v in pairs(c.options or {}) do
        opts[k] = v
      end
      local ok, s, err, detail = pcall(onlyoffice.login, url, username, password, opts)
      if not ok then -- the lock must go whatever the login did
        dict:delete("lock:" .. key)
        return nil, "onlyoffice.ngx: " .. tostring(s), { kind = "login" }
      end
      if s then
        dict:set("token:" .. key, s:token())
        sessions[key] = s
      end
      dict:delete("lock:" .. key)
      if not s then
        return nil, err, detail
      end
      return s:token()
    end
    if os.time() > deadline then
      return nil, "onlyoffice.ngx: timed out waiting for another worker's login", { kind = "timeout" }
    end
    core.sleep(0.01)
  end
end

-- The thread VM's session for this portal, holding the given token.
local function session_with(onlyoffice, c, key, token)
  local s = sessions[key]
  if s and s:token() == token then
    return s
  end
  if s then
    s:close()
  end
  local url = c.url or (c.credentials_file and (read_credentials(c.credentials_file) or {}).url)
    or os.getenv(c.url_env)
  s = onlyoffice.session(url, token, c.options)
  sessions[key] = s
  return s
end

-- Options change a session's behaviour: sessions with different ones are not shared.
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
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. "=" .. options_key(v[k] == nil and v[tonumber(k)] or v[k])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function call(c, method, path, opts)
  local onlyoffice = require "onlyoffice"
  local dict = ngx.shared[c.dict]
  if not dict then
    return nil, "onlyoffice.ngx: no lua_shared_dict named " .. c.dict, { kind = "config" }
  end
  local key = (c.url or c.url_env) .. "\0" .. (c.username or c.username_env) .. "\0" .. (c.credentials_file or "")
    .. "\0" .. options_key(c.options)
  local token, err, detail = fresh_token(onlyoffice, dict, c, key, nil)
  if not token then
    return nil, err, detail
  end
  local s = session_with(onlyoffice, c, key, token)
  local data, info
  data, info, detail = s:request(method, path, opts)
  if data == nil and type(detail) == "table" and detail.status == 401 then
    token, err, detail = fresh_token(onlyoffice, dict, c, key, token)
    if not token then
      return nil, err, detail
    end
    data, info, detail = session_with(onlyoffice, c, key, token):request(method, path, opts)
  end
  return data, info, detail
end

--- Runs in the worker thread: what Portal:request sends there.
function M.call(c, method, path, opts)
  local ok, a, b, d = pcall(call, c, method, path, opts)
  if not ok then -- a programmer mistake raised in the thread
    return nil, "onlyoffice.ngx: " .. tostring(a), { kind = "config" }
  end
  return a, b, d
end

return M
