-- What the Lua side keeps per session (retries, trace hook), and the trace hook.
local core = require "onlyoffice.core"

local M = {}

local DEFAULT_RETRIES = 2
local DEFAULT_MAX_RETRY_WAIT = 10 -- seconds

-- Weak keys, so sessions still collect.
local settings = setmetatable({}, { __mode = "k" })

--- Remembers the Lua-side options of a new session.
function M.configure(s, opts)
  settings[s] = {
    retries = opts.retries or DEFAULT_RETRIES,
    max_retry_wait = opts.max_retry_wait or DEFAULT_MAX_RETRY_WAIT,
    trace = opts.trace,
  }
end

function M.get(s)
  return settings[s]
end

--- Calls fn(...), a transfer returning core.perform's values, and tells the
--- session's trace hook "> method target" before and "< status (n bytes)" or
--- "< failed: message" after; lines pass the same redaction as error messages.
function M.traced(s, method, target, fn, ...)
  local cfg = settings[s]
  local trace = cfg and cfg.trace
  if not trace then
    return fn(...)
  end
  trace(core.redact(s, "> " .. method .. " " .. target))
  local status, body, ctype, retry_after, location = fn(...)
  if status then
    trace(core.redact(s, "< " .. status .. " (" .. #body .. " bytes)"))
  else
    trace(core.redact(s, "< failed: " .. tostring(body)))
  end
  return status, body, ctype, retry_after, location
end

return M
