-- 100 requests to an endpoint that answers after 20 ms: one after another, then
-- as one s:batch. Prints "sequential_ms batch_ms".
--   lua5.4 bench/clients/batch.lua BASE TOKEN [CONCURRENCY]
local onlyoffice = require "onlyoffice"
local now = require("system").gettime

local s = onlyoffice.session(arg[1], arg[2])
local list = {}
for i = 1, 100 do
  list[i] = { "GET", "emu/slow", query = { ms = 20 } }
end
assert(s:get("emu/slow", { ms = 20 }))
local t0 = now()
for i = 1, 100 do
  assert(s:get("emu/slow", { ms = 20 }), i)
end
local sequential = now() - t0
t0 = now()
local results = s:batch(list, { concurrency = tonumber(arg[3]) or 8 })
local batched = now() - t0
for i = 1, 100 do
  assert(results[i][1], results[i][2])
end
print(string.format("%.0f %.0f", sequential * 1000, batched * 1000))
