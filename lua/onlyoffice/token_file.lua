-- Cached logins for scripts: login{ ..., token_file = path } keeps the session's
-- token in a file nobody else can read (mode 0600, replaced atomically), reuses
-- it while one cheap request proves it valid, and logs in otherwise. A script
-- run from cron then logs in once per token lifetime instead of once per run,
-- which keeps it clear of the portal's login throttle.
local json = require "onlyoffice.json"
local core = require "onlyoffice.core"

local M = {}

local PROBE = "/api/2.0/people/@self"

--- The token saved for url and username in path, or nil (no file yet, or one
--- for another portal or user). A file others may read raises, at `level`.
function M.read(path, url, username, level)
  local text, why = core.read_private(path)
  if text == false then -- none yet
    return nil
  elseif not text then
    error("token_file: " .. why, level + 1)
  end
  local ok, doc = pcall(json.decode, text or "")
  if not ok or type(doc) ~= "table" or doc.url ~= url or doc.username ~= username or type(doc.token) ~= "string" then
    return nil
  end
  return { token = doc.token, expires = type(doc.expires) == "string" and doc.expires or nil }
end

--- new(priv, P) -> login(s, cached, path, username, code), forget(s): the
--- cached login for a public call, and the removal of the file at logout.
function M.new(priv, P)
  local state, set_token = priv.state, priv.set_token

  local function save(s, path, username)
    return core.write_private(path, json.encode({ url = s:url(), username = username, token = s:token(),
      expires = s:expires() }))
  end

  -- From now on every new token (a re-login after a 401) replaces the saved
  -- one; a failure to write it then only costs the next run a login.
  local function arm(s, path, username)
    state(s).on_token = function(x)
      save(x, path, username)
    end
    state(s).token_file = path
  end

  local function login(s, cached, path, username, code)
    if cached and set_token(s, cached.token, cached.expires) then
      local data, err, detail = P.api(s, { method = "GET", target = PROBE, relogin = false })
      if data ~= nil then
        arm(s, path, username)
        return true
      elseif detail.status ~= 401 then
        return nil, err, detail
      end
    end
    local ok, err, detail = P.authenticate(s, code)
    if not ok then
      return nil, err, detail
    end
    local saved, why = save(s, path, username)
    if not saved then
      return nil, "token_file: " .. why, { kind = "io" }
    end
    arm(s, path, username)
    return true
  end

  local function forget(s)
    local path = state(s).token_file
    if path then
      os.remove(path)
    end
  end

  return login, forget
end

return M
