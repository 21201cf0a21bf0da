-- Handlers the nginx spec needs beyond the example's.
local onlyoffice_ngx = require "onlyoffice.ngx"
local portal = onlyoffice_ngx.new({ dict = "onlyoffice" })

local M = {}

-- "ok <text>" or the failure's status, kind and message, one per line.
local function show(data, err, detail, text)
  if data == nil then
    ngx.status = detail.kind == "timeout" and 504 or 502
    ngx.say(detail.kind, " ", tostring(detail.status), " ", tostring(detail.throttled), "\n", err)
    return ngx.exit(ngx.HTTP_OK)
  end
  ngx.say("ok ", text or "")
end

--- GET /slow?ms=N: a portal call that takes N ms.
function M.slow()
  local data, err, detail = portal:get("emu/slow", { ms = tonumber(ngx.var.arg_ms) or 1000 })
  show(data, err, detail, "slow")
end

--- GET /me_file: like /me, with the credentials read from a file.
function M.me_from_file()
  local p = onlyoffice_ngx.new({ dict = "onlyoffice", credentials_file = ngx.var.credentials_file })
  local me, err, detail = p:get("people/@self")
  show(me, err, detail, me and me.email)
end

--- GET /me_checked: people/@self by the default helper, with what it raised.
function M.me_checked()
  local ok, me, err, detail = pcall(function()
    local data, e, d = portal:get("people/@self")
    return data, e, d
  end)
  if not ok then
    return ngx.say("raised: ", me)
  end
  show(me, err, detail, me and me.email)
end

-- The credentials file at `from` with new tokens, written to `to` (a file the
-- spec made with mode 0600: opened with "w", it keeps its owner and mode).
local function rewrite(from, to, tokens)
  local lines = {}
  for line in io.lines(from) do
    if not line:match("^%s*access_token") and not line:match("^%s*refresh_token")
      and not line:match("^%s*expires_at") then
      lines[#lines + 1] = line
    end
  end
  lines[#lines + 1] = "access_token = " .. tokens.access_token
  lines[#lines + 1] = "refresh_token = " .. tokens.refresh_token
  if tokens.expires_at then
    lines[#lines + 1] = "expires_at = " .. tokens.expires_at
  end
  local f = assert(io.open(to, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end

-- Counts the rotations it hears of, and saves the latest tokens next to the
-- credentials file, as ".rotated" (when the spec made that file).
local function on_refresh(tokens)
  local dict = ngx.shared.onlyoffice
  dict:incr("spec_on_refresh", 1, 0)
  local file = ngx.var.credentials_file
  local f = io.open(file .. ".rotated", "r")
  if f then
    f:close()
    rewrite(file, file .. ".rotated", tokens)
  end
end

--- GET /oauth_me[?path=]: a GET (of people/@self) by an OAuth helper whose
--- credentials are in $credentials_file.
function M.oauth_me()
  local p = onlyoffice_ngx.new({ dict = "onlyoffice", credentials_file = ngx.var.credentials_file,
    on_refresh = on_refresh })
  local data, err, detail = p:get(ngx.var.arg_path or "people/@self")
  show(data, err, detail, data and data.email)
end

--- GET /oauth_me2: the same, by a helper whose credentials are in "$credentials_file.2".
function M.oauth_me2()
  local p = onlyoffice_ngx.new({ dict = "onlyoffice", credentials_file = ngx.var.credentials_file .. ".2" })
  local data, err, detail = p:get("people/@self")
  show(data, err, detail, data and data.email)
end

--- GET /exchange?code=&id=&secret=: onlyoffice.oauth_exchange over the nginx
--- transport, as a redirect-URI handler would call it.
function M.exchange()
  local tokens, err, detail = require("onlyoffice").oauth_exchange({ url = os.getenv("ONLYOFFICE_URL"),
    code = ngx.var.arg_code, redirect_uri = "https://app.example.com/cb", client_id = ngx.var.arg_id,
    client_secret = ngx.var.arg_secret, transport = "ngx" })
  show(tokens, err, detail, tokens and tokens.token_type)
end

--- GET /dict: on_refresh's count, and the dict's keys by kind (what precedes ':').
function M.dict()
  local dict = ngx.shared.onlyoffice
  local kinds = {}
  for _, k in ipairs(dict:get_keys(0)) do
    local kind = k:match("^(%a+):") or k
    kinds[kind] = (kinds[kind] or 0) + 1
  end
  ngx.say(require("cjson").encode({ on_refresh = dict:get("spec_on_refresh") or 0, keys = kinds }))
end

--- GET /echo_options: what the portal saw of a call by a helper with other
--- options (hence its own session and login); /echo: the same for the default.
local other = onlyoffice_ngx.new({ dict = "onlyoffice", options = { user_agent = "spec-agent", retries = 1 } })
local function echo(p)
  local seen, err, detail = p:get("emu/echo")
  if seen == nil then
    return show(seen, err, detail)
  end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(require("cjson").encode(seen.headers))
end

function M.echo_options()
  echo(other)
end

function M.echo()
  echo(portal)
end

--- POST /echo_post[?read=1]: a portal POST without a body, from a handler that
--- has (or has not) read the client's own body; answers what the portal got.
function M.echo_post()
  if ngx.var.arg_read then
    ngx.req.read_body()
  end
  local seen, err, detail = portal:post("emu/echo")
  if seen == nil then
    return show(seen, err, detail)
  end
  ngx.say(require("cjson").encode({ body = seen.body, length = seen.headers["content-length"] or "",
    ctype = seen.headers["content-type"] or "" }))
end

--- GET /trace_raises: a helper whose trace callback raises on every answer.
local raising = onlyoffice_ngx.new({ dict = "onlyoffice", options = { trace = function(line)
  if line:sub(1, 1) == "<" then
    error("trace failed")
  end
end } })
function M.trace_raises()
  local me, err, detail = raising:get("people/@self")
  show(me, err, detail, me and me.email)
end

--- GET /me_short_wait: waits at most 1 s for another caller's login.
local impatient = onlyoffice_ngx.new({ dict = "onlyoffice", login_wait = 1 })
function M.me_short_wait()
  local me, err, detail = impatient:get("people/@self")
  show(me, err, detail, me and me.email)
end

--- GET /timer: a call from an ngx.timer callback, where nginx has no subrequests.
function M.timer()
  local dict = ngx.shared.onlyoffice
  ngx.timer.at(0, function()
    local ok, err = pcall(function()
      local me = portal:get("people/@self")
      return me
    end)
    dict:set("timer_result", ok and "accepted" or err)
  end)
  for _ = 1, 100 do
    local r = dict:get("timer_result")
    if r then
      dict:delete("timer_result")
      return ngx.say(r)
    end
    ngx.sleep(0.01)
  end
  ngx.say("no result")
end

--- GET /bad_args: a programmer's mistake in a call's arguments.
function M.bad_args()
  local ok, err = pcall(function()
    local me = portal:get(42)
    return me
  end)
  ngx.say(ok and "accepted" or err)
end

--- GET /wrong_location: a helper whose location is some other one (/fast).
function M.wrong_location()
  local wrong = onlyoffice_ngx.new({ dict = "onlyoffice", location = "/fast" })
  local ok, err = pcall(wrong.get, wrong, "people/@self")
  ngx.say(ok and "accepted" or err)
end

--- GET /head: a HEAD request; answers its status and body length.
function M.head()
  local body, info = portal:request("HEAD", "people/@self")
  ngx.say(info and info.status, " ", body and #body, "\n", tostring(info))
end

--- GET /always401: an endpoint that refuses every token.
function M.always401()
  local data, err, detail = portal:get("emu/always401")
  show(data, err, detail)
end

--- GET /request_mistakes: what onlyoffice.ngx refuses in portal:request.
function M.request_mistakes()
  for _, opts in ipairs({ { body = { a = 1 } }, { headers = { ["X-A"] = "1" } }, { timeout = 5 } }) do
    local ok, err = pcall(function()
      local data = portal:request("GET", "people/@self", opts)
      return data
    end)
    ngx.say(ok and "accepted" or err)
  end
end

--- GET /caught: what the other server's catch-all kept, if anything.
function M.caught()
  ngx.say(ngx.shared.onlyoffice:get("caught") or "nothing")
end

--- GET /typo: a mistake in the options raises in new, before any call.
function M.typo()
  local ok, err = pcall(onlyoffice_ngx.new, { dict = "onlyoffice", options = { timeuot = 5 } })
  ngx.say(ok and "accepted" or err)
  ngx.say(#ngx.shared.onlyoffice:get_keys(0))
end

--- GET /seams: the whole module with transport "ngx" inside a handler, each
--- feature against the others; answers a JSON table of what happened.
function M.seams()
  local onlyoffice = require "onlyoffice"
  local url, user, password = os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
    os.getenv("ONLYOFFICE_PASSWORD")
  local out = {}
  local traced = {}
  local s = assert(onlyoffice.login(url, user, password, { transport = "ngx",
    trace = function(line) traced[#traced + 1] = line end }))
  local token = s:token()
  out.email = s:get("people/@self").email
  local results = s:batch({ { "GET", "people/@self" }, { "GET", "emu/slow", query = { ms = 200 } },
    { "GET", "emu/status", query = { code = 404 } } }, { concurrency = 2 })
  out.batch = { results[1].ok, results[2].ok, results[3][3].status }
  local flaky = s:get("emu/flaky", { key = "seams", times = 1, status = 429, after = 1 })
  out.retried_hits = flaky and flaky.hits
  local moved = s:get("emu/redirect", { to = "/api/2.0/people/@self", code = 302 })
  out.redirected = moved and moved.email
  local _, leak_err, leak = s:get("emu/leak")
  out.leak_hidden = not leak_err:find(token, 1, true) and not require("cjson").encode(leak):find(token, 1, true)
  out.leak_starred = leak_err:find("***", 1, true) ~= nil
  local ok_up, up_err = pcall(s.upload, s, 1, { data = "x" }, { name = "x.txt" })
  out.upload = ok_up and "accepted" or up_err
  -- Revoked: the session logs in again by itself, through the subrequests too.
  s:get("/__emu/revoke", { user = user })
  local again = s:get("people/@self")
  out.relogged = again and again.email and s:token() ~= token
  -- Two light threads on one session: one call at a time.
  local a = ngx.thread.spawn(function() return s:get("emu/slow", { ms = 300 }) end)
  local b = ngx.thread.spawn(function() return pcall(s.get, s, "people/@self") end)
  local _, b_ok, b_err = ngx.thread.wait(b)
  local _, a_data = ngx.thread.wait(a)
  out.second_thread = b_ok and "accepted" or b_err
  out.first_thread = a_data and a_data.slept
  local accel = s:get("emu/accel")
  out.accel = accel and accel.from
  local echoed, echo_err = s:get("emu/redirect", { to = "/api/2.0/emu/echo?q=a b\tX-Injected: 1", code = 302 })
  out.redirect_uri = echoed and echoed.uri or echo_err
  local ok_batch, batch_err = pcall(s.batch, s, { { "GET", "emu/flaky", query = { key = "mixed", times = 0 } },
    { "GET", "people/@self", headers = { ["X-A"] = "1" } } })
  out.batch_refused = not ok_batch and batch_err
  out.batch_sent = s:get("emu/flaky", { key = "mixed", times = 0 }).hits
  local huge = onlyoffice.session(url, s:token(), { transport = "ngx", max_body = 1000000 })
  local _, _, huge_detail = huge:get("emu/raw/huge")
  out.huge = huge_detail and huge_detail.kind
  -- Closed during a retry's wait: the retry is not sent.
  local function flaky_hits()
    local hits = s:get("/__emu/hits")
    return hits and hits.hits["GET /api/2.0/emu/flaky"] or 0
  end
  local before = flaky_hits()
  local waiting = onlyoffice.session(url, s:token(), { transport = "ngx" })
  local w = ngx.thread.spawn(function()
    return waiting:get("emu/flaky", { key = "closing", times = 1, status = 503, after = 1 })
  end)
  -- Closed once the 503 is in (the wait is 1 s): a fixed pause could end
  -- before the first answer on a loaded machine.
  for _ = 1, 100 do
    if flaky_hits() > before then
      break
    end
    ngx.sleep(0.02)
  end
  ngx.sleep(0.1)
  waiting:close()
  local _, _, _, w_detail = ngx.thread.wait(w)
  out.retry_after_close = { w_detail and w_detail.kind, s:get("emu/flaky", { key = "closing", times = 1 }).hits }
  local fresh = s:token()
  -- Closed from another light thread while its call is in flight.
  local c = ngx.thread.spawn(function() return s:get("emu/slow", { ms = 300 }) end)
  s:close()
  local _, c_data, c_err, c_detail = ngx.thread.wait(c)
  out.closed = { c_data == nil, c_err, c_detail and c_detail.kind }
  local small = onlyoffice.session(url, fresh, { transport = "ngx", max_body = 20 })
  local _, _, big = small:get("people/@self")
  out.too_large = big and big.kind
  out.traced = #traced > 0 and traced[1]
  ngx.header["Content-Type"] = "application/json"
  ngx.say(require("cjson").encode(out))
end

return M
