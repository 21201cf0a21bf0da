-- The public API: constructors, request methods and logout, built on the
-- pipeline and the C core's private functions that init.lua hands over.
local args = require "onlyoffice.args"
local json = require "onlyoffice.json"
local upload = require "onlyoffice.upload"
local download = require "onlyoffice.download"
local pages = require "onlyoffice.pages"
local batch = require "onlyoffice.batch"
local credentials = require "onlyoffice.credentials"
local token_file = require "onlyoffice.token_file"
local operation = require "onlyoffice.operation"
local VERSION = require "onlyoffice.version"

local A = {}

--- new(priv, P, core) -> the module table
function A.new(priv, P, core)
  local M = {
    _VERSION = VERSION,
    null = json.null,
    array = json.array,
    curl_version = core.curl_version,
    ssl_version = core.ssl_version,
    webhook = require "onlyoffice.webhook",
  }

  local methods = priv.methods
  local cached_login, forget_token_file = token_file.new(priv, P)
  local subrequest = require("onlyoffice.subrequest").new(priv)
  local unpack = table.unpack or unpack

  local DEFAULT_RETRIES = 2
  local DEFAULT_MAX_RETRY_WAIT = 10 -- seconds

  local function new_session(url, opts, level)
    local base = args.base_url(url, level + 1)
    opts = args.options(opts, level + 1)
    -- The C core has no default of its own: the version lives in version.lua alone.
    opts.user_agent = opts.user_agent or
      ("lua-onlyoffice/" .. VERSION .. (opts.transport == "ngx" and " (nginx)" or ""))
    local s = priv.new(base, opts)
    local st = priv.state(s)
    st.retries = opts.retries or DEFAULT_RETRIES
    st.max_retry_wait = opts.max_retry_wait or DEFAULT_MAX_RETRY_WAIT
    st.trace, st.trace_events = opts.trace, opts.trace_events
    opts.client_key_password = nil -- libcurl holds it now; no Lua table keeps it
    -- How the pipeline sends and waits: libcurl and a blocking sleep, or nginx.
    st.send, st.sleep = priv.send, core.sleep
    if opts.transport == "ngx" then
      st.send, st.sleep = subrequest(s, opts)
      st.yields = true
    end
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
    priv.credentials(s, username, password)
    local ok, err, detail
    if opts.token_file then
      local ok_read, cached = pcall(token_file.read, opts.token_file, s:url(), username, 1)
      if not ok_read then
        s:close()
        error(cached, 2)
      end
      ok, err, detail = P.call(s, cached_login, cached, opts.token_file, username, opts.code)
    else
      ok, err, detail = P.call(s, P.authenticate, opts.code)
    end
    if not ok then
      s:close()
      return nil, err, detail
    end
    if opts.relogin == false then
      priv.forget_password(s)
    end
    return s
  end

  --- session(url, token [, options]), session(url, { api_key = ... | access_token = ..., ... })
  --- or session{ url =, token = | api_key = | access_token =, ... }: no login.
  function M.session(url, token, options)
    if type(url) == "table" then
      url, token, options = unpack(args.named(url, { "url", "token" }), 1, 3)
    elseif type(token) == "table" and options == nil then
      token, options = nil, token
    end
    local credential
    credential, options = credentials.parse(token, options, 2)
    if type(options) == "table" and (options.code ~= nil or options.relogin ~= nil or options.token_file ~= nil) then
      error("options code, relogin and token_file belong to login, not session", 2)
    end
    local s = new_session(url, options, 2)
    credentials.apply(priv, s, credential)
    return s
  end

  --- oauth_exchange{ url =, code =, redirect_uri =, client_id =, client_secret = | code_verifier = }
  --- -> tokens | nil, message, detail: the first OAuth2 tokens, for the code the
  --- portal's consent page handed the redirect URI (that step needs a browser).
  function M.oauth_exchange(t)
    if type(t) ~= "table" then
      error("oauth_exchange takes a table: { url =, code =, redirect_uri =, client_id =, client_secret = }", 2)
    end
    local form, options = credentials.exchange(t, 2)
    local s = new_session(t.url, options, 2)
    -- Kept only so that the portal's text is redacted of them.
    priv.oauth_client(s, form.code, form.client_id, form.client_secret or form.code_verifier)
    local ok, tokens, err, detail = pcall(P.call, s, P.exchange, args.query(form, 1))
    s:close()
    if not ok then
      error(tokens, 0)
    end
    return tokens, err, detail
  end

  --- write_private(path, text) -> true | nil, message: replaces path atomically
  --- with a new file of mode 0600, for tokens a script keeps.
  M.write_private = core.write_private

  --- assert(data, message, ...): like assert, but only nil counts as a failure,
  --- so an answer of false passes. Returns all its arguments.
  function M.assert(data, message, ...)
    if data == nil then
      error(message == nil and "assertion failed!" or message, 2)
    end
    return data, message, ...
  end

  --- s:request(method, path [, {query=, body=, headers=, timeout=}])
  function methods.request(s, method, path, opts)
    local data, info, detail = P.call(s, P.api, P.request(method, path, opts, 2))
    return data, info, detail -- not a tail call: P.call counts this frame
  end

  function methods.get(s, path, query)
    local data, info, detail = P.call(s, P.api, { method = "GET", target = args.target(path, query, 2) })
    return data, info, detail -- not a tail call: P.call counts this frame
  end

  function methods.delete(s, path, query)
    local data, info, detail = P.call(s, P.api, { method = "DELETE", target = args.target(path, query, 2) })
    return data, info, detail -- not a tail call: P.call counts this frame
  end

  function methods.post(s, path, body, query)
    local data, info, detail = P.call(s, P.api, P.request("POST", path, { body = body, query = query }, 2))
    return data, info, detail -- not a tail call: P.call counts this frame
  end

  function methods.put(s, path, body, query)
    local data, info, detail = P.call(s, P.api, P.request("PUT", path, { body = body, query = query }, 2))
    return data, info, detail -- not a tail call: P.call counts this frame
  end

  local LOGOUT = "/api/2.0/authentication/logout"

  local function logout_now(s)
    local credential = priv.state(s).credential
    if credential == "key" or credential == "oauth" then
      return nil, credential == "key"
        and "an API key is not logged out: revoke it with DELETE /api/2.0/keys/{id} or in the portal's settings"
        or "an OAuth token is not logged out: revoke it at /oauth2/revoke or in the portal's settings",
        { kind = "auth" }
    end
    local req = { method = "POST", target = LOGOUT, cookie = true, relogin = false }
    local _, message, detail = P.failure(s, req, (P.one(s, req)))
    if not message then
      forget_token_file(s)
      return true
    end
    if detail.kind == "closed" then
      return nil, message, detail
    elseif detail.status == 404 then
      return nil, "the portal has no logout endpoint (Workspace): the token stays valid until it expires", detail
    end
    return nil, "logout failed: " .. message:gsub("^POST [^:]*: ", ""), detail
  end

  --- Revokes the token on the portal, then closes the session. From one of the
  --- session's own callbacks, both happen once the running call has returned.
  function methods.logout(s)
    if P.busy(s) then
      priv.state(s).after = function(x)
        pcall(P.call, x, logout_now)
        x:close()
      end
      s:close()
      return true
    end
    local ok, a, b, c = pcall(P.call, s, logout_now)
    s:close()
    if not ok then
      error(a, 0)
    end
    return a, b, c
  end

  upload.install(methods, P)
  download.install(methods, P)
  pages.install(methods)
  batch.install(methods, P)
  operation.install(methods, P)
  return M
end

return A
