-- The nginx transport: a session made with `transport = "ngx"` sends each
-- request as an nginx subrequest (ngx.location.capture) to an internal location
-- that proxies to the portal. The request handler's coroutine yields instead
-- of blocking the worker, nginx's own upstream carries the bytes (keep-alive
-- connections, proxy_ssl_verify), and a graceful reload waits for the call as
-- it waits for any proxied request. The pipeline's policy (re-login, retries,
-- redirects, trace, redaction, shaping) is the same as on the curl transport.
--
-- What the subrequest sends travels in nginx variables that the internal
-- location's proxy_set_header lines read (examples/nginx/onlyoffice.conf);
-- proxy_pass_request_headers off keeps the client's own headers away from the
-- portal, and an explicit body (empty when there is none) keeps its body away.
local escape_url = require("onlyoffice.args").escape_url

local M = {}

local UNSUPPORTED = "uploads, downloads and requests to other hosts need the curl transport"
local OWN = "a request's own timeout and headers need the curl transport; with transport \"ngx\" "
  .. "the internal location sets them"
local DEFAULT_MAX_BODY = 64 * 1024 * 1024 -- as the curl transport's

-- Where nginx allows subrequests.
local PHASES = { rewrite = true, access = true, content = true }

--- Raises, at `level`, unless the running handler may make subrequests.
function M.check_phase(ngx, level)
  local phase = ngx.get_phase()
  if not PHASES[phase] then
    error("transport \"ngx\" sends subrequests, which nginx allows only in rewrite, access and content "
      .. "handlers, not in " .. tostring(phase), level == 0 and 0 or level + 1)
  end
end

-- Per worker: the locations, per server{} (port and name), that answered the
-- probe as onlyoffice.conf's does.
local verified = {}

-- Raises unless `location` is onlyoffice.conf's internal location: a typo in
-- its name, or a server{} without the include, would send the login's body
-- (the password) to whatever location matches instead. Run before every login
-- and, once per worker and server{}, before other calls.
local function verify(ngx, location, where)
  local res = ngx.location.capture(location, { method = ngx.HTTP_GET, body = "",
    vars = { onlyoffice_uri = "/__onlyoffice_probe" } })
  if res.status ~= 299 then
    error("onlyoffice: " .. location .. " is not the internal location of onlyoffice.conf (it answered "
      .. res.status .. "): include examples/nginx/onlyoffice.conf in this server{}, or set option location", 0)
  end
  if where then
    verified[where] = true
  end
end

--- new(priv) -> make(s, opts): the transport's send and sleep for session s.
function M.new(priv)
  local login_body, refresh_body, authorization, is_open = priv.login_body, priv.refresh_body,
    priv.authorization, priv.is_open

  -- ngx is the global of the nginx Lua module: looked up when a session is made.
  return function(s, opts)
    local ngx = ngx -- luacheck: globals ngx
    if type(ngx) ~= "table" or not ngx.location then
      error("transport \"ngx\" works only inside nginx's Lua module", 4)
    end
    local capture, capture_multi = ngx.location.capture, ngx.location.capture_multi
    local METHOD = { GET = ngx.HTTP_GET, POST = ngx.HTTP_POST, PUT = ngx.HTTP_PUT, DELETE = ngx.HTTP_DELETE,
      PATCH = ngx.HTTP_PATCH, HEAD = ngx.HTTP_HEAD }
    local origin, root = s:url():match("^(%a+://[^/]+)(.*)$")
    local scheme, host = origin:match("^(%a+)://(.*)$")
    scheme = scheme:lower()
    local location = opts.location or "/_onlyoffice"
    local max_body = opts.max_body or DEFAULT_MAX_BODY

    -- One call at a time per session: its subrequest options are reused. Every
    -- variable gets a value (an unset one would log a warning per request); an
    -- empty proxy_set_header value sends no header.
    local vars = { onlyoffice_scheme = scheme, onlyoffice_host = host,
      onlyoffice_server_name = host:match("^%[(.*)%]") or host:match("^[^:]*"),
      onlyoffice_user_agent = opts.user_agent }
    local sub = { vars = vars }

    local function check(req)
      if req.part or req.sink or req.file or req.url then
        error(UNSUPPORTED, 0)
      end
      if req.timeout or req.headers then
        error(OWN, 0)
      end
    end

    local function options_for(req)
      local body, auth, cookie, ctype = req.body, "", "", "application/json"
      if req.login then
        body = login_body(s, req.login ~= true and req.login or nil)
      elseif req.refresh then
        body, ctype = refresh_body(s), "application/x-www-form-urlencoded"
      elseif req.form then
        ctype = "application/x-www-form-urlencoded"
      elseif req.auth ~= false then
        auth = authorization(s) or ""
        if req.cookie and auth ~= "" then
          cookie = "asc_auth_key=" .. auth
        end
      end
      vars.onlyoffice_uri = root .. req.target
      vars.onlyoffice_authorization, vars.onlyoffice_cookie = auth, cookie
      vars.onlyoffice_content_type = body and ctype or ""
      sub.method, sub.body = METHOD[req.method], body or ""
      return sub
    end

    -- Where a Location header points, as an absolute URL.
    local function absolute(req, where)
      -- Escaped as targets are, so that a Location cannot put a space or a control
      -- byte into the request line proxy_pass writes; a fragment is never sent.
      where = escape_url((where:gsub("#.*$", "")))
      if where:match("^%a[%w+.-]*:") then
        return where
      elseif where:sub(1, 2) == "//" then
        return scheme .. ":" .. where
      elseif where:sub(1, 1) == "/" then
        return origin .. where
      end
      return origin .. (root .. req.target):gsub("[?#].*$", ""):gsub("[^/]*$", "") .. where
    end

    local function no_answer(res)
      local status = res.status
      if (status == 502 or status == 504) and (res.body or "") == "" then
        -- nginx's own 502/504 (no connection, a refused certificate, a timeout)
        -- come as an empty, truncated answer; the reason is in its error log.
        return { kind = status == 504 and "timeout" or "network",
          message = "the portal did not answer (nginx: HTTP " .. status .. ", see its error log)" }
      end
      return { kind = "network", message = "the portal's answer was cut short" }
    end

    -- A capture result in core.send's response shape.
    local function answer(req, res)
      if not is_open(s) then
        return { kind = "closed", message = "session is closed" }
      elseif #(res.body or "") > max_body then
        -- Checked once nginx has the whole answer: a Lua body filter that could
        -- stop earlier costs every call about 15 % (see the README).
        return { kind = "too_large", message = string.format("response body larger than max_body (%d bytes)",
          max_body) }
      elseif res.truncated and not (req.method == "HEAD" or res.status == 204 or res.status == 304) then
        return no_answer(res) -- those three announce a length and send no body
      end
      local headers = {}
      for name, value in pairs(res.header) do
        headers[name:lower()] = type(value) == "table" and table.concat(value, ", ") or value
      end
      local status = res.status
      local r = { status = status, body = res.body or "", ctype = headers["content-type"], headers = headers }
      if status >= 300 then
        local after = headers["retry-after"]
        local secs = after and (tonumber(after) or (ngx.parse_http_time(after) or -1) - ngx.time())
        r.retry_after = secs and secs >= 0 and math.floor(secs) or nil
        if status < 400 and headers.location then
          r.location = absolute(req, headers.location)
        end
      end
      return r
    end

    local closed = { kind = "closed", message = "session is closed" }

    local function send(_, reqs, concurrency)
      M.check_phase(ngx, 0)
      local where = location .. "\0" .. ngx.var.server_port .. "\0" .. ngx.var.server_name
      if reqs[1].login or reqs[1].refresh then
        verify(ngx, location)
      elseif not verified[where] then
        verify(ngx, location, where)
      end
      local out, n = { n = #reqs }, #reqs
      for i = 1, n do -- a mistake raises before anything of the list is sent
        check(reqs[i])
      end
      if not is_open(s) then -- closed from another light thread, during a retry's wait say
        for i = 1, n do
          out[i] = closed
        end
        return out
      end
      if n == 1 then
        local res = capture(location, options_for(reqs[1]))
        out[1] = answer(reqs[1], res)
        return out
      end
      for first = 1, n, concurrency do
        local last = math.min(n, first + concurrency - 1)
        if not is_open(s) then -- closed from another light thread between two rounds
          for i = first, n do
            out[i] = closed
          end
          return out
        end
        local list = {}
        for i = first, last do
          local o = options_for(reqs[i])
          local copy = {}
          for k, v in pairs(o.vars) do
            copy[k] = v
          end
          list[#list + 1] = { location, { method = o.method, body = o.body, vars = copy } }
        end
        local results = { capture_multi(list) }
        for i = first, last do
          out[i] = answer(reqs[i], results[i - first + 1])
        end
      end
      return out
    end

    return send, ngx.sleep
  end
end

return M
