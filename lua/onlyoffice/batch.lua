-- s:batch(requests [, options]): many requests at once over libcurl's multi
-- interface, with the same re-login and retry rules as single requests.
local core = require "onlyoffice.core"
local auth = require "onlyoffice.auth"
local request = require "onlyoffice.request"
local response = require "onlyoffice.response"
local settings = require "onlyoffice.settings"

local M = {}

local DEFAULT_CONCURRENCY = 8

-- One request of the list, checked: { method, target, payload, lines }.
local function prepared(item, i, level)
  if type(item) ~= "table" then
    error("batch request " .. i .. " must be a table", level + 1)
  end
  local method, path = item[1] or item.method, item[2] or item.path
  local m, target, payload, lines = request.prepare(method, path,
    { query = item.query, body = item.body, headers = item.headers }, level + 1)
  return { m, target, payload, lines }
end

-- The outcome of one raw result: "done" with values, or "relogin"/"retry".
local function outcome(s, req, raw, attempt, cfg)
  local status = raw[1]
  if status == 401 and core.can_relogin(s) then
    return "relogin"
  end
  local wait = request.retry_delay(req[1], status, raw[4], attempt, cfg)
  if wait then
    return "retry", wait
  end
  if status and status >= 300 and status < 400 then -- rare: let the single path follow it
    return "done", { request.exchange(s, req[1], req[2], req[3], req[4]) }
  end
  return "done", { request.finish(s, req[1], req[2], status, raw[2], raw[3], raw[4]) }
end

--- s:batch(requests [, { concurrency = n }]) -> results: results[i] is
--- { data, info } or { nil, message, detail }, in the order of the requests.
local function batch(s, requests, opts)
  if type(requests) ~= "table" then
    error("requests must be a list of requests", 2)
  end
  opts = opts or {}
  local concurrency = opts.concurrency or DEFAULT_CONCURRENCY
  if type(concurrency) ~= "number" or concurrency < 1 or concurrency > 64 or concurrency % 1 ~= 0 then
    error("option \"concurrency\" must be a whole number from 1 to 64", 2)
  end
  local reqs = {}
  for i, item in ipairs(requests) do
    reqs[i] = prepared(item, i, 2)
  end
  local results, pending, attempt, relogged = {}, {}, 0, false
  for i = 1, #reqs do
    pending[i] = i
  end
  local cfg = settings.get(s)
  while #pending > 0 do
    local list = {}
    for k, i in ipairs(pending) do
      list[k] = reqs[i]
    end
    local raw, err = core.batch(s, list, math.min(concurrency, #list))
    if not raw then -- a closed session
      for _, i in ipairs(pending) do
        results[i] = { response.network(s, err, nil) }
      end
      break
    end
    local again, need_login, longest = {}, false, 0
    for k, i in ipairs(pending) do
      local what, value = outcome(s, reqs[i], raw[k], attempt, cfg)
      if what == "relogin" and not relogged then
        need_login = true
        again[#again + 1] = i
      elseif what == "retry" then
        longest = math.max(longest, value)
        again[#again + 1] = i
      elseif what == "relogin" then -- the second 401 after a re-login
        results[i] = { request.finish(s, reqs[i][1], reqs[i][2], 401, raw[k][2], raw[k][3], raw[k][4]) }
      else
        results[i] = value
      end
    end
    if need_login then
      relogged = true
      local ok, lerr, ldetail = auth.authenticate(s, nil)
      if not ok then
        for _, i in ipairs(again) do
          results[i] = { nil, lerr, ldetail }
        end
        break
      end
    elseif #again > 0 then
      attempt = attempt + 1
      core.sleep(longest)
    end
    pending = again
  end
  return results
end

function M.install(methods)
  methods.batch = batch
end

return M
