-- DocSpace's rate limiter (off by default, as on self-hosted portals): per-user
-- concurrency limits on reads and writes (50 and 15 there) and injected 429s.
-- Refusals are 429 with an empty body, X-RateLimit-Limit/-Remaining, and
-- Retry-After plus X-RateLimit-Reset (a Unix time) only from the daily
-- window, as RedisRateLimiting.AspNetCore sends them.
local M = {}

local function refuse(lib, limit, retry_after)
  local headers = { ["X-RateLimit-Limit"] = tostring(limit), ["X-RateLimit-Remaining"] = "0" }
  if retry_after then
    headers["Retry-After"] = tostring(retry_after)
    headers["X-RateLimit-Reset"] = tostring(ngx.time() + retry_after)
  end
  lib.dict:incr("limited", 1, 0)
  return lib.send(429, "", nil, headers)
end

-- The partition: the credential as sent (the real limiter keys on the user).
local function partition()
  return ngx.var.http_authorization or ngx.var.cookie_asc_auth_key or ngx.var.remote_addr
end

function M.install(lib)
  local C = lib.CONTROL
  -- ?reads=&writes=: concurrent requests allowed per user (0 or absent: no limit).
  function C.limit()
    lib.dict:set("limit:read", tonumber(ngx.var.arg_reads))
    lib.dict:set("limit:write", tonumber(ngx.var.arg_writes))
    return lib.json_send(200, { ok = true })
  end
  -- The next ?count= API requests get 429 (with ?retry_after= seconds: the daily window's).
  function C.throttle()
    lib.dict:set("throttle", tonumber(ngx.var.arg_count) or 0)
    lib.dict:set("throttle_after", tonumber(ngx.var.arg_retry_after))
    return lib.json_send(200, { ok = true })
  end
  function C.limits()
    return lib.json_send(200, { limited = lib.dict:get("limited") or 0,
      max_read = lib.dict:get("max:read") or 0, max_write = lib.dict:get("max:write") or 0 })
  end
end

function M.route(lib, method, _, rest)
  if not rest or lib.flavor() ~= "docspace" then
    return
  end
  local d = lib.dict
  if (d:get("throttle") or 0) > 0 and d:incr("throttle", -1) >= 0 then
    local after = d:get("throttle_after")
    return refuse(lib, after and 10000 or 1500, after)
  end
  local class = (method == "GET" or method == "HEAD") and "read" or "write"
  local limit = d:get("limit:" .. class)
  if not limit or limit <= 0 then
    return
  end
  local key = "cc:" .. class .. ":" .. partition()
  local now = d:incr(key, 1, 0)
  if now > limit then
    d:incr(key, -1)
    return refuse(lib, limit)
  end
  if now > (d:get("max:" .. class) or 0) then
    d:set("max:" .. class, now)
  end
  ngx.ctx.limit_key = key
end

--- Log phase: the request no longer counts against its limit.
function M.log(lib)
  local key = ngx.ctx.limit_key
  if key then
    lib.dict:incr(key, -1)
  end
end

return M
