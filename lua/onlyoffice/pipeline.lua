-- The one request pipeline. Every call that reaches the portal (API calls,
-- each upload part, downloads, batches, login and logout) is a list of
-- request tables sent by the session's transport (core.send, or nginx
-- subrequests), and this module alone applies re-login, retries, redirects,
-- trace and redaction to what comes back.
local args = require "onlyoffice.args"
local response = require "onlyoffice.response"
local credentials = require "onlyoffice.credentials"
local random = require("onlyoffice.core").random
local clock = require("onlyoffice.core").clock

local M = {}

local MAX_REDIRECTS = 5
-- 502/503/504 may come after the portal acted: only GET and HEAD are repeated.
-- DocSpace's limiter answers 429 before the request reaches the API, so a 429
-- is repeated whatever the method.
local RETRY_STATUS = { [502] = true, [503] = true, [504] = true }
local REDIRECT_STATUS = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
local IDEMPOTENT = { GET = true, HEAD = true }


--- new(priv) -> the pipeline bound to the C core's private functions.
function M.new(priv)
  local P = {}
  local redact, state, enter, leave = priv.redact, priv.state, priv.enter, priv.leave
  local explain -- defined with the shaping below
  local can_relogin, protect = priv.can_relogin, priv.protect
  P.is_open = priv.is_open
  P.state = state -- the session's Lua-side table, for what a call keeps per session

  --- The redaction of portal text for session s (nil drops the text); made
  --- once per session, since every answer's shaping asks for it.
  function P.cleaner(s)
    local st = state(s)
    local clean = st.clean
    if not clean then
      clean = function(text)
        return redact(s, text)
      end
      st.clean = clean
    end
    return clean
  end

  -- Public calls run inside enter/leave: a callback that calls its own session
  -- raises, and a close asked for inside the call happens as it returns.
  local function finish_call(s, ok, ...)
    if leave(s) then
      local st = state(s)
      local after = st.after
      st.after = nil
      if after then
        after(s)
      else
        s:close()
      end
    end
    if not ok then
      error((...), 0) -- already located
    end
    return ...
  end

  --- Runs fn(s, ...) as one public call on s. protect is pcall from C, so a
  --- callback that yields fails there instead of leaving the session busy.
  function P.call(s, fn, ...)
    local yields = state(s).yields
    if not enter(s) then
      error(yields and "session is in use by another call (one call at a time per session)"
        or "session is in use (called from its own callback)", 3)
    end
    -- A subrequest yields the nginx request's coroutine: Lua's pcall lets it.
    return finish_call(s, (yields and pcall or protect)(fn, s, ...))
  end

  --- Whether s is inside a public call.
  function P.busy(s)
    if enter(s) then
      leave(s)
      return false
    end
    return true
  end

  --- Waits through the session's transport: a blocking sleep with libcurl,
  --- ngx.sleep inside nginx (which lets the worker serve others meanwhile).
  function P.sleep(s, seconds)
    state(s).sleep(seconds)
  end

  ---------------------------------------------------------------------------
  -- Trace
  ---------------------------------------------------------------------------

  -- The request's path as trace and failures show it: redacted, never a token or code.
  local function where(s, req)
    return req.shown or req.target or redact(s, req.url) or "(another origin)"
  end

  local function shown(s, req)
    return req.method .. " " .. where(s, req) .. (req.login and " (login)" or "")
  end

  -- With trace_events, tables instead of lines: attempt is 1 for the first try.
  local function event(s, phase, req)
    return { phase = phase, method = req.method, path = where(s, req), attempt = (req.attempt or 0) + 1,
      login = req.login and true or nil }
  end

  local function trace_out(s, st, list)
    local trace = st.trace
    for _, req in ipairs(list) do
      trace(st.trace_events and event(s, "request", req) or ("> " .. shown(s, req)))
    end
  end

  local function trace_event_in(s, trace, req, r, seconds)
    local e = event(s, r.status and "response" or "failure", req)
    e.seconds = seconds
    if r.status then
      e.status, e.bytes = r.status, r.bytes or #r.body
    else
      e.kind, e.message = r.kind, r.message
    end
    trace(e)
  end

  -- seconds: from sending the list to its last answer (requests sent together
  -- share it).
  local function trace_in(s, st, list, resps, seconds)
    local trace = st.trace
    for i = 1, resps.n do
      local r = resps[i]
      if st.trace_events then
        trace_event_in(s, trace, list[i], r, seconds)
      elseif r.status then
        trace("< " .. r.status .. " (" .. (r.bytes or #r.body) .. " bytes)")
      else
        trace("< failed: " .. r.message)
      end
    end
  end

  -- Sends list through the session's transport, told to the trace around it.
  local function send(s, st, list, concurrency)
    if not st.trace then
      return st.send(s, list, concurrency)
    end
    trace_out(s, st, list)
    local started = clock()
    local resps = st.send(s, list, concurrency)
    trace_in(s, st, list, resps, clock() - started)
    return resps
  end

  ---------------------------------------------------------------------------
  -- Redirects
  ---------------------------------------------------------------------------

  local DEFAULT_PORT = { http = ":80", https = ":443" }

  local function origin_of(url)
    local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
    if not scheme then
      return nil
    end
    scheme, authority = scheme:lower(), authority:lower()
    local port = DEFAULT_PORT[scheme]
    if port and authority:sub(-#port) == port then
      authority = authority:sub(1, -#port - 1)
    end
    return scheme .. "://" .. authority, scheme, rest
  end

  --- Where a URL the portal named (a viewUrl, an upload location) is read: its
  --- target inside the portal, or else its path on the session's portal, since
  --- a portal behind a proxy may name its internal address and the token only
  --- ever goes to the session's portal. nil for a URL without a path.
  function P.on_portal(s, url)
    return P.portal_target(s, url) or url:match("^%a+://[^/]+(/.*)$")
  end

  --- The target (below the portal root) of a URL inside the portal, or nil. A
  --- URL that starts with one "/" counts from the host's root.
  function P.portal_target(s, url)
    local base_origin, _, prefix = origin_of(s:url())
    local path
    if url:match("^/[^/]") or url == "/" then
      path = url
    else
      local origin, _, rest = origin_of(url)
      if origin ~= base_origin then
        return nil
      end
      path = rest
    end
    if path == "" or path:sub(1, 1) ~= "/" then
      path = "/" .. path
    end
    if prefix == "" then
      return path
    end
    if path:sub(1, #prefix + 1) == prefix .. "/" then
      return path:sub(#prefix + 1)
    end
  end

  local function scheme_of(s, req)
    local _, scheme = origin_of(req.url or s:url())
    return scheme
  end

  local function refused(s, r, message)
    local location = r.location and redact(s, r.location)
    local headers = redact(s, "") and response.clean_all(r.headers, P.cleaner(s)) or nil
    return { failed = true, message = message .. (location and (": " .. location) or ""),
      detail = { kind = "redirect", status = r.status, location = location, headers = headers } }
  end

  -- The request that follows redirect r, or a failure. 303 (and 301/302 after
  -- a POST) becomes a GET without a body; 307/308 keep method and body. The
  -- original request is never sent again: the next one goes where r points.
  local function follow(s, req, r)
    local location = r.location
    local hops = (req.hops or 0) + 1
    if hops > MAX_REDIRECTS then
      return refused(s, r, "too many redirects")
    end
    local _, scheme = origin_of(location)
    if scheme ~= "http" and scheme ~= "https" then
      return refused(s, r, "redirected to an unsupported address")
    end
    if scheme_of(s, req) == "https" and scheme ~= "https" then
      return refused(s, r, "redirected from https to http, not followed")
    end
    local nxt = {}
    for k, v in pairs(req) do
      nxt[k] = v
    end
    nxt.hops = hops
    local status, method = r.status, req.method
    if (status == 303 and method ~= "HEAD") or ((status == 301 or status == 302) and method == "POST") then
      nxt.method, nxt.body, nxt.part, nxt.login, nxt.headers = "GET", nil, nil, nil, nil
    elseif req.part and req.part.reader then
      return refused(s, r, "redirected, but the upload's reader cannot be read again")
    end
    if req.login then -- a password goes where it was sent, and nowhere else
      return refused(s, r, "a login was redirected, not followed")
    elseif req.refresh or req.form then -- so do a refresh token, a code and a client secret
      return refused(s, r, "a token request was redirected, not followed")
    end
    local target = P.portal_target(s, location)
    -- What the portal named is shown redacted, in trace lines and failures.
    nxt.shown = target and (redact(s, target) or "(a redirected path)")
    if target then
      nxt.target, nxt.url, nxt.auth = target, nil, nil
    elseif req.outside then
      -- Another origin (a storage server): nothing of the session goes there;
      -- headers marked portable (a download's Range) carry none of it.
      nxt.url, nxt.target, nxt.auth, nxt.cookie, nxt.login = location, nil, false, nil, nil
      nxt.headers = req.portable and req.headers or nil
    else
      return refused(s, r, "redirected outside the portal, not followed")
    end
    return nxt
  end

  ---------------------------------------------------------------------------
  -- The policy loop
  ---------------------------------------------------------------------------

  -- The wait before retry number attempt + 1 when the answer named none. A
  -- limiter's 429 (DocSpace sends no Retry-After with its sliding window and
  -- concurrency limits) gets longer waits with jitter, so that the clients it
  -- refused together do not all return together.
  local function backoff(st, limited, attempt)
    if limited then
      return math.min(2 ^ attempt, st.max_retry_wait) * (0.5 + 0.5 * random())
    end
    return math.min(0.2 * 2 ^ attempt, st.max_retry_wait)
  end

  -- What to do with response r to req: "final", "relogin", "retry" (and the
  -- wait), or "again" with the next request.
  local function decide(s, st, req, r, relogged)
    local status = r.status
    if not status then
      return "final"
    end
    if status == 401 and not relogged and req.relogin ~= false and req.auth ~= false and can_relogin(s)
      and not (req.part and req.part.reader) then
      return "relogin"
    end
    local limited = status == 429 and not (req.part and req.part.reader)
    if (limited or (RETRY_STATUS[status] and IDEMPOTENT[req.method])) and (req.attempt or 0) < st.retries then
      local wait = r.retry_after or backoff(st, limited, req.attempt or 0)
      if wait <= st.max_retry_wait then
        req.attempt = (req.attempt or 0) + 1
        return "retry", wait
      end
    end
    if REDIRECT_STATUS[status] and r.location then
      local nxt = follow(s, req, r)
      if nxt.failed then
        return "final", nxt
      end
      return "again", nxt
    end
    return "final"
  end

  -- Each request gets its own copy, naming itself rather than the login.
  local function login_failed(message, detail, req)
    local copy = {}
    for k, v in pairs(detail) do
      copy[k] = v
    end
    copy.method, copy.path = req.method, req.shown or req.target
    return { failed = true, message = message, detail = copy }
  end

  -- An OAuth token about to expire is refreshed before requests go out
  -- (unless skip): true, or the refresh's nil, message, detail.
  local function refresh_if_due(s, st, skip)
    if not skip and st.expires_at and P.expiring(st) then
      return P.authenticate(s, nil)
    end
    return true
  end

  --- Sends one request under the session's policy: its final response (or a
  --- { failed = true, ... } the policy decided), and the request that got it
  --- (another one after a redirect). The same rules as P.run, without its lists.
  function P.one(s, req)
    local st = state(s)
    local list = st.one or {}
    st.one = list -- one call at a time per session: the list can be reused
    local relogged = false
    local fresh, why, why_detail = refresh_if_due(s, st, req.refresh)
    if not fresh then
      return login_failed(why, why_detail, req), req
    end
    while true do
      list[1] = req
      local resps = send(s, st, list, 1)
      local r = resps[1]
      local what, value = decide(s, st, req, r, relogged)
      if what == "final" then
        return value or r, req
      elseif what == "retry" then
        st.sleep(value)
      elseif what == "again" then
        req = value
      else
        relogged = true
        local ok, err, detail = P.authenticate(s, nil)
        if not ok then
          return login_failed(err, detail, req), req
        end
      end
    end
  end

  --- Sends reqs (request tables for core.send) under the session's policy;
  --- returns, in order, each one's final response, or { failed = true,
  --- message =, detail = } for a failure the policy itself decided.
  function P.run(s, reqs, concurrency)
    local st = state(s)
    local n = #reqs
    local out, pending, relogged = {}, {}, false
    for i = 1, n do
      pending[i] = i
    end
    local fresh, why, why_detail = refresh_if_due(s, st, n == 0)
    if not fresh then
      for i = 1, n do
        out[i] = login_failed(why, why_detail, reqs[i])
      end
      return out
    end
    while #pending > 0 do
      local list = {}
      for k, i in ipairs(pending) do
        list[k] = reqs[i]
      end
      local resps = send(s, st, list, math.min(concurrency or 1, #list))
      local again, relogin, longest = {}, {}, 0
      for k, i in ipairs(pending) do
        local what, value = decide(s, st, reqs[i], resps[k], relogged)
        if what == "relogin" then
          relogin[#relogin + 1] = i
        elseif what == "retry" then
          longest = math.max(longest, value)
          again[#again + 1] = i
        elseif what == "again" then
          reqs[i] = value
          again[#again + 1] = i
        else
          out[i] = value or resps[k]
        end
      end
      if #relogin > 0 then
        relogged = true
        local ok, err, detail = P.authenticate(s, nil)
        for _, i in ipairs(relogin) do
          if ok then
            again[#again + 1] = i
          else
            out[i] = login_failed(err, detail, reqs[i])
          end
        end
        table.sort(again)
      end
      if longest > 0 then
        st.sleep(longest)
      end
      pending = again
    end
    return out
  end

  ---------------------------------------------------------------------------
  -- Shaping
  ---------------------------------------------------------------------------

  local function rate_limit(headers)
    local function number(name)
      return tonumber(headers and headers["x-ratelimit-" .. name])
    end
    return { limit = number("limit"), remaining = number("remaining"), reset = number("reset") }
  end

  -- The kinds a refusal gets beyond "http": rate_limit for a 429, auth for a
  -- 401 or 403 to an API key or OAuth token (which no login repairs).
  function explain(s, req, final, message, detail)
    local status = final.status
    if status == 429 then
      detail.kind, detail.rate_limit = "rate_limit", rate_limit(final.headers)
      return message .. " (rate limited" .. (req.attempt and (" after " .. req.attempt .. " retries") or "") .. ")"
    end
    local credential = state(s).credential
    if (status == 401 or status == 403) and (credential == "key" or credential == "oauth") and req.auth ~= false
      and not req.refresh then
      detail.kind = "auth"
      return message .. " (" .. credentials.refusal(credential, status, req.method, req.target) .. ")"
    end
    return message
  end

  --- nil, message, detail for a final that is not a 2xx answer; nothing for one that is.
  function P.failure(s, req, final)
    local path = req.shown or req.target
    if final.failed then
      local detail = final.detail
      detail.method, detail.path = detail.method or req.method, detail.path or path
      return nil, final.message, detail
    end
    local message, detail
    if not final.status then
      message, detail = response.network(final)
    elseif final.status < 200 or final.status > 299 then
      message, detail = response.failure(final, P.cleaner(s))
      message = req.method .. " " .. (path or "(another origin)") .. ": " .. message
      message = explain(s, req, final, message, detail)
    else
      return
    end
    detail.method, detail.path = req.method, path
    return nil, message, detail
  end

  --- An API call's result: data, info or nil, message, detail.
  function P.shape(s, req, final)
    local _, message, detail = P.failure(s, req, final)
    if message then
      return nil, message, detail
    end
    local data, info, jdetail = response.success(final, P.cleaner(s))
    if data == nil then
      jdetail.method, jdetail.path = req.method, req.shown or req.target
    end
    return data, info, jdetail
  end

  --- One API request (from s:request and friends): data, info | nil, message, detail.
  function P.api(s, req)
    local final, sent = P.one(s, req)
    return P.shape(s, sent, final)
  end

  --- The request table for an API call; programmer mistakes raise at `level`.
  function P.request(method, path, opts, level)
    method = args.method(method, level + 1)
    opts = args.request_options(opts, level + 1)
    local req = { method = method, target = args.target(path, opts.query, level + 1), timeout = opts.timeout }
    local body = opts.body
    if body ~= nil then
      if method == "GET" or method == "HEAD" then
        error(method .. " requests have no body", level + 1)
      end
      req.body = args.body(body, level + 1)
    end
    if opts.headers then
      req.headers = args.header_lines(opts.headers, level + 1)
    end
    return req
  end

  return P
end

return M
