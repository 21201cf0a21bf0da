-- The nginx transport: a session made with `transport = "ngx"` sends each
-- request as an nginx subrequest (ngx.location.capture) to an internal location
-- that proxies to the portal. The request handler's coroutine yields instead
-- of blocking the worker, nginx's own upstream carries the bytes (keep-alive
-- connections, proxy_ssl_verify), and a graceful reload waits for the call as
-- it waits for any proxied request. The pipeline's policy (re-login, retries,
-- redirects, trace, redaction, shaping) is the same as on the curl transport.
--
-- What the subrequest sends travels in nginx variables that the internal
-- location's proxy_set_header lines read (see examples/nginx/onlyoffice.conf);
-- proxy_pass_request_headers off keeps the client's own headers away from the
-- portal.
local M = {}

local UNSUPPORTED = "uploads, downloads and requests to other hosts need the curl transport"

--- new(priv) -> make(s, opts): installs the transport on session s.
function M.new(priv)
  local login_body, is_open = priv.login_body, priv.is_open

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
    local server_name = host:match("^%[(.*)%]") or host:match("^[^:]*")
    local location = opts.location or "/_onlyoffice"
    local max_body = opts.max_body
    local user_agent = opts.user_agent or ("onlyoffice-lua (nginx " .. (ngx.config.nginx_version or "") .. ")")

    -- One call at a time per session: its subrequest options are reused, and
    -- only the variables that have a value are set (unset ones read as empty,
    -- and an empty proxy_set_header value sends no header).
    local vars = { onlyoffice_scheme = scheme, onlyoffice_host = host, onlyoffice_user_agent = user_agent,
      onlyoffice_server_name = scheme == "https" and server_name or nil }
    local sub = { vars = vars }

    local function options_for(req)
      if req.part or req.sink or req.file or req.url then
        error(UNSUPPORTED, 0)
      end
      if req.timeout or req.headers then
        error("a request's own timeout and headers need the curl transport; "
          .. "with transport \"ngx\" the internal location sets them", 0)
      end
      local body, auth, cookie = req.body, nil, nil
      if req.login then
        body = login_body(s, req.login ~= true and req.login or nil)
      elseif req.auth ~= false then
        auth = s:token()
        if req.cookie and auth then
          cookie = "asc_auth_key=" .. auth
        end
      end
      vars.onlyoffice_uri = root .. req.target
      vars.onlyoffice_authorization, vars.onlyoffice_cookie = auth, cookie
      vars.onlyoffice_content_type = body and "application/json" or nil
      sub.method, sub.body = METHOD[req.method], body
      return sub
    end

    -- Where a Location header points, as an absolute URL.
    local function absolute(req, where)
      if where:match("^%a[%w+.-]*:") then
        return where
      elseif where:sub(1, 2) == "//" then
        return origin:match("^%a+:") .. where
      elseif where:sub(1, 1) == "/" then
        return origin .. where
      end
      return origin .. (root .. req.target):gsub("[?#].*$", ""):gsub("[^/]*$", "") .. where
    end

    -- A capture result in core.send's response shape.
    local function answer(req, res)
      if not is_open(s) then
        return { kind = "closed", message = "session is closed" }
      end
      if res.truncated then
        -- nginx's own 502/504 (no connection, TLS refused, timeout) come as an
        -- empty, truncated answer; the reason is in nginx's error log.
        if (res.status == 502 or res.status == 504) and (res.body or "") == "" then
          return { kind = res.status == 504 and "timeout" or "network",
            message = "the portal did not answer (nginx: HTTP " .. res.status .. ", see its error log)" }
        end
        return { kind = "network", message = "the portal's answer was cut short" }
      end
      local headers = {}
      for name, value in pairs(res.header) do
        headers[name:lower()] = type(value) == "table" and table.concat(value, ", ") or value
      end
      local status, body = res.status, res.body or ""
      if max_body and #body > max_body then
        return { kind = "too_large", message = "response body larger than max_body (" .. max_body .. " bytes)" }
      end
      local r = { status = status, body = body, ctype = headers["content-type"], headers = headers }
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

    local function send(_, reqs, concurrency)
      local out, n = { n = #reqs }, #reqs
      if n == 1 then
        out[1] = answer(reqs[1], capture(location, options_for(reqs[1])))
        return out
      end
      for first = 1, n, concurrency do
        local last = math.min(n, first + concurrency - 1)
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
