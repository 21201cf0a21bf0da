-- Per-request time of authenticated GETs through one session, decoded JSON included.
--   lua5.4 bench/requests.lua URL PATH N ROUNDS
local onlyoffice = require "onlyoffice"

local url, path, n, rounds = arg[1], arg[2] or "people/@self", tonumber(arg[3]) or 2000, tonumber(arg[4]) or 5

local now = require("system").gettime -- luasystem (a busted dependency): wall-clock seconds

local s = assert(onlyoffice.login(url, "user@example.com", "secret"))
assert(s:get(path)) -- warm the connection
local times = {}
for r = 1, rounds do
  local t0 = now()
  for _ = 1, n do
    assert(s:get(path))
  end
  times[r] = (now() - t0) / n
end
table.sort(times)
local median = times[math.floor((rounds + 1) / 2)]
print(string.format("%s\t%s\t%.1f", jit and "LuaJIT" or _VERSION, path, median * 1e6))
s:close()
