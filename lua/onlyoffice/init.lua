-- onlyoffice: a client for the ONLYOFFICE portal REST API (DocSpace and Workspace).
local core = require "onlyoffice.core"
local args = require "onlyoffice.args"
local auth = require "onlyoffice.auth"
local json = require "onlyoffice.json"
local request = require "onlyoffice.request"
local response = require "onlyoffice.response"
local settings = require "onlyoffice.settings"

local M = {
  _VERSION = "0.1.0",
  null = json.null,
  curl_version = core.curl_version,
  ssl_version = core.ssl_version,
}

local methods = core.methods
local unpack = table.unpack or unpack
local exchange, prepare = request.exchange, request.prepare

local function new_session(url, opts, level)
  local base = args.base_url(url, level + 1)
  opts = args.options(opts, level + 1)
  local s = core.new(base, opts)
  settings.configure(s, opts)
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
  local ok, err, detail = auth.authenticate(s, opts.code)
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
  local target = "/api/2.0/authentication/logout"
  local status, body, ctype, retry_after = request.perform(s, "POST", target, nil, nil, true)
  local ok, message, detail
  if not status then
    ok, message, detail = response.network(s, body, ctype, "POST", target)
  elseif status >= 200 and status < 300 then
    ok = true
  elseif status == 404 then
    ok, message, detail = response.fail(s, "the portal has no logout endpoint (Workspace):"
      .. " the token stays valid until it expires", { status = status })
  else
    message, detail = response.failure(status, body, ctype, retry_after)
    ok, message, detail = response.fail(s, "logout failed: " .. message, detail)
  end
  s:close()
  return ok, message, detail
end

require("onlyoffice.files").install(methods)
require("onlyoffice.batch").install(methods)

return M
