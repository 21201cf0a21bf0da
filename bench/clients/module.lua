-- This module: one session, N authenticated GETs, JSON decoded each time.
--   lua5.4 bench/clients/module.lua URL TOKEN N [CAFILE]
local onlyoffice = require "onlyoffice"
local now = require("system").gettime

local base, path = arg[1]:match("^(%a+://[^/]+)(/.*)$")
local n = tonumber(arg[3])
local s = onlyoffice.session(base, arg[2], { cafile = arg[4] })
assert(s:get(path)) -- connect outside the timing, as the others do on their first call
local t0 = now()
for _ = 1, n - 1 do
  assert(s:get(path))
end
print(string.format("%.1f", (now() - t0) / (n - 1) * 1e6))
