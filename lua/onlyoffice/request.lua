-- Sending a request: re-login after a 401, retries after 429/5xx, redirects
-- inside the portal, and the answer turned into `data, info` or a failure.
local core = require "onlyoffice.core"
local args = require "onlyoffice.args"
local auth = require "onlyoffice.auth"
local json = require "onlyoffice.json"
local response = require "onlyoffice.response"
local settings = require "onlyoffice.settings"

local M = {}

local MAX_REDIRECTS = 5
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }
local REDIRECT_STATUS = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

--- core.perform, told to the session's trace hook.
function M.perform(s, method, target, payload, lines, cookie)
  return settings.traced(s, method, target, core.perform, s, method, target, payload, lines, cookie)
end

--- Runs attempt() once more after a re-login when it answers 401 and the session
--- can log in again. attempt returns what core.perform returns.
function M.with_relogin(s, attempt)
  local status, a, b, c, d, e = attempt()
  if status == 401 and core.can_relogin(s) then
    local ok, err, detail = auth.authenticate(s, nil)
    if not ok then
      return nil, err, detail, "login"
    end
    return attempt()
  end
  return status, a, b, c, d, e
end

--- Seconds to wait before repeating a request answered `status`, or nil when
--- it is not to be repeated: GET/HEAD, 429/502/503/504, within the retries and
--- never longer than max_retry_wait.
function M.retry_delay(method, status, retry_after, attempt, cfg)
  if not RETRY_STATUS[status] or (method ~= "GET" and method ~= "HEAD") or attempt >= cfg.retries then
    return nil
  end
  if retry_after then
    return retry_after <= cfg.max_retry_wait and retry_after or nil
  end
  return math.min(0.2 * 2 ^ attempt, cfg.max_retry_wait)
end

--- nil, message, detail for a transfer that got no answer or a non-2xx one;
--- nothing for a 2xx answer.
function M.failed(s, method, target, status, body, ctype, retry_after)
  if not status then
    return response.network(s, body, ctype, method, target)
  elseif status < 200 or status > 299 then
    return response.http(s, method, target, status, body, ctype, retry_after)
  end
end

--- A final answer: data, info for 2xx, else nil, message, detail.
function M.finish(s, method, target, status, body, ctype, retry_after)
  if status and status >= 200 and status < 300 then
    local data, info, detail = response.success(status, body, ctype)
    if data == nil then
      return response.fail(s, info, detail)
    end
    return data, info
  end
  return M.failed(s, method, target, status, body, ctype, retry_after)
end

--- The target (below the portal root) of a URL inside the portal, or nil. A URL
--- that starts with "/" counts from the host's root.
function M.portal_target(s, url)
  local base = s:url()
  local origin, prefix = base:match("^(%a+://[^/]+)(.*)$")
  local path
  if url:sub(1, 1) == "/" then
    path = url
  elseif url:sub(1, #origin + 1):lower() == (origin .. "/"):lower() then
    path = url:sub(#origin + 1)
  else
    return nil
  end
  if prefix == "" then
    return path
  end
  if path:sub(1, #prefix + 1) == prefix .. "/" then
    return path:sub(#prefix + 1)
  end
end

--- Sends a checked request; data, info or nil, message, detail.
function M.exchange(s, method, target, payload, lines)
  local cfg = settings.get(s)
  local relogged, attempt, redirects = false, 0, 0
  while true do
    local status, body, ctype, retry_after, location = M.perform(s, method, target, payload, lines)
    local wait = M.retry_delay(method, status, retry_after, attempt, cfg)
    if status == 401 and not relogged and core.can_relogin(s) then
      relogged = true
      local ok, err, detail = auth.authenticate(s, nil)
      if not ok then
        return nil, err, detail
      end
    elseif wait then
      attempt = attempt + 1
      core.sleep(wait)
    elseif REDIRECT_STATUS[status] then
      local next_target = location and M.portal_target(s, location)
      redirects = redirects + 1
      if not next_target or redirects > MAX_REDIRECTS then
        return response.fail(s, next_target and "too many redirects"
          or ("redirected outside the portal, not followed: " .. tostring(location)),
          { status = status, location = location, method = method, path = target })
      end
      target = next_target
      if status <= 303 and method ~= "HEAD" then
        method, payload = "GET", nil
      end
    else
      return M.finish(s, method, target, status, body, ctype, retry_after)
    end
  end
end

--- Checks a request's parts; `level` points error() at the caller's caller.
function M.prepare(method, path, opts, level)
  method = args.method(method, level)
  if opts ~= nil and type(opts) ~= "table" then
    error("request options must be a table, got " .. type(opts), level)
  end
  opts = opts or {}
  local target = args.target(path, opts.query, level)
  local payload, body = nil, opts.body
  if type(body) == "table" then
    local err
    payload, err = json.encode(body)
    if not payload then
      error("body cannot be encoded as JSON: " .. tostring(err), level)
    end
  elseif type(body) == "string" then
    payload = body
  elseif body ~= nil then
    error("body must be a table or a string, got " .. type(body), level)
  end
  return method, target, payload, opts.headers and args.header_lines(opts.headers, level)
end

return M
