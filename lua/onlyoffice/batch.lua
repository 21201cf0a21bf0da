-- s:batch(requests [, options]): many requests at once over the session's
-- multi handle, through the same pipeline (and so the same re-login, retry,
-- redirect, trace and redaction rules) as single requests.
local args = require "onlyoffice.args"

local M = {}

local DEFAULT_CONCURRENCY = 8
-- DocSpace's limiter allows a user 50 concurrent reads and 15 concurrent writes,
-- and refuses the excess at once (its queue is 0): a batch stays under both.
local MAX_READS, MAX_WRITES = 50, 15
local OPTIONS = { concurrency = "number" }
local ITEM_KEYS = { [1] = true, [2] = true, method = true, path = true, query = true, body = true,
  headers = true, timeout = true }

function M.install(methods, P)
  -- One request of the list as a pipeline request.
  local function prepared(item, i, level)
    if type(item) ~= "table" then
      error("batch request " .. i .. " must be a table", level + 1)
    end
    for k in pairs(item) do
      if not ITEM_KEYS[k] then
        error("batch request " .. i .. ": unknown field " .. string.format("%q", tostring(k)), level + 1)
      end
    end
    local req = P.request(item[1] or item.method, item[2] or item.path,
      { query = item.query, body = item.body, headers = item.headers, timeout = item.timeout }, level + 1)
    return req -- not a tail call: keep the frame count for the error level
  end

  local function run(s, reqs, concurrency)
    local finals = P.run(s, reqs, concurrency)
    local results = { n = #reqs }
    for i = 1, #reqs do
      local a, b, c = P.shape(s, reqs[i], finals[i])
      if a == nil then
        results[i] = { nil, b, c, ok = false, n = 3 }
      else
        results[i] = { a, b, ok = true, n = 2 }
      end
    end
    return results
  end

  --- s:batch(requests [, { concurrency = n }]) -> results: results.n requests,
  --- each { data, info, ok = true, n = 2 } or { nil, message, detail, ok = false, n = 3 }.
  function methods.batch(s, requests, opts)
    if type(requests) ~= "table" then
      error("requests must be a list of requests", 2)
    end
    opts = args.call_options(opts, OPTIONS, 2)
    local concurrency = opts.concurrency or DEFAULT_CONCURRENCY
    if concurrency < 1 or concurrency > MAX_READS or concurrency % 1 ~= 0 then
      error("option \"concurrency\" must be a whole number from 1 to " .. MAX_READS, 2)
    end
    local reqs = {}
    for i, item in ipairs(requests) do
      reqs[i] = prepared(item, i, 2)
      if reqs[i].method ~= "GET" and reqs[i].method ~= "HEAD" then
        concurrency = math.min(concurrency, MAX_WRITES)
      end
    end
    local results = P.call(s, run, reqs, concurrency)
    return results -- not a tail call: P.call counts this frame
  end
end

return M
