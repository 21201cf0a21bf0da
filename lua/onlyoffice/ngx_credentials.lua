-- onlyoffice.ngx's credentials: which of a password, an API key and OAuth
-- tokens a helper is configured with, read from its credentials_file and the
-- environment. Exactly one kind must be configured: two would leave it to the
-- module to guess which one the portal should see.
local args = require "onlyoffice.args"

local M = {}

-- Settings of new{} that name environment variables, with their defaults.
M.ENV = { url_env = "ONLYOFFICE_URL", username_env = "ONLYOFFICE_USER", password_env = "ONLYOFFICE_PASSWORD",
  api_key_env = "ONLYOFFICE_API_KEY", client_id_env = "ONLYOFFICE_CLIENT_ID",
  client_secret_env = "ONLYOFFICE_CLIENT_SECRET", refresh_token_env = "ONLYOFFICE_REFRESH_TOKEN",
  access_token_env = "ONLYOFFICE_ACCESS_TOKEN" }

-- The fields a credentials_file or the environment may hold, and the setting
-- that names each one's environment variable.
local FIELDS = { url = "url_env", username = "username_env", password = "password_env", api_key = "api_key_env",
  client_id = "client_id_env", client_secret = "client_secret_env", refresh_token = "refresh_token_env",
  access_token = "access_token_env" }

-- Values that go into a header or a form: visible ASCII only.
local SECRETS = { "api_key", "client_id", "client_secret", "refresh_token", "access_token" }

-- "key = value" lines; '#' starts a comment.
local function read_file(path)
  local text, why = require("onlyoffice.core").read_private(path)
  if not text then
    return nil, text == false and ("cannot read credentials_file: " .. path .. " does not exist")
      or ("credentials_file: " .. why)
  end
  local t = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if k and not line:match("^%s*#") then
      t[k] = v
    end
  end
  return t
end

-- A value from the file, else from the environment; an empty one is no value,
-- so that nginx's "env NAME=;" turns a variable off.
local function gather(c, file)
  local v = {}
  for field, setting in pairs(FIELDS) do
    local x = file[field] or os.getenv(c[setting])
    if x == "" then
      x = nil
    end
    v[field] = x
  end
  v.url, v.username = c.url or v.url, c.username or v.username
  return v
end

-- Which kind of credential v holds: mode, or nil and why not (conflict true
-- when more than one kind is configured).
local function mode_of(c, v)
  local kinds = {}
  if v.password then
    kinds[#kinds + 1] = "a password"
  end
  if v.api_key then
    kinds[#kinds + 1] = "an API key"
  end
  if v.refresh_token or v.client_id or v.client_secret or v.access_token then
    kinds[#kinds + 1] = "OAuth tokens"
  end
  if #kinds > 1 then
    return nil, "onlyoffice.ngx: " .. table.concat(kinds, " and ") .. " are configured (in credentials_file or "
      .. "the environment); configure one of password, api_key and OAuth (client_id, client_secret, "
      .. "refresh_token)", true
  end
  local mode = (v.api_key and "key") or (v.password and "password") or (#kinds == 1 and "oauth")
  if not v.url or not mode or (mode == "password" and not v.username)
    or (mode == "oauth" and not (v.client_id and v.client_secret and v.refresh_token)) then
    return nil, "onlyoffice.ngx: url, username and password are not all configured (set " .. c.url_env .. ", "
      .. c.username_env .. " and " .. c.password_env .. " with nginx's env directive, or use credentials_file; "
      .. "or instead of username and password: " .. c.api_key_env .. ", or " .. c.client_id_env .. ", "
      .. c.client_secret_env .. " and " .. c.refresh_token_env .. ")"
  end
  return mode
end

--- read(c) -> { mode = "password" | "key" | "oauth", url =, username =, password =,
--- api_key =, client_id =, client_secret =, refresh_token =, access_token =,
--- expires_at = } | nil, message, conflict
function M.read(c)
  local file = {}
  if c.credentials_file then
    local t, err = read_file(c.credentials_file)
    if not t then
      return nil, "onlyoffice.ngx: " .. err
    end
    file = t
  end
  local v = gather(c, file)
  local mode, why, conflict = mode_of(c, v)
  if not mode then
    return nil, why, conflict
  end
  v.mode = mode
  for _, k in ipairs(SECRETS) do
    if v[k] and v[k]:find("[^\33-\126]") then
      return nil, "onlyoffice.ngx: " .. k .. " must be visible ASCII characters"
    end
  end
  if file.expires_at then -- as on_refresh gives it: seconds since the epoch
    v.expires_at = tonumber(file.expires_at)
    if not v.expires_at then
      return nil, "onlyoffice.ngx: expires_at in credentials_file must be a number"
    end
  end
  local ok, bad = pcall(args.base_url, v.url, 1)
  if not ok then
    return nil, "onlyoffice.ngx: " .. tostring(bad):gsub("^[^:]*:%d+: ", "")
  end
  return v
end

return M
