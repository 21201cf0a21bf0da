-- Costs of single steps of an API call's Lua side, in microseconds per call,
-- for the interpreter running it (the module built for it on LUA_CPATH):
--   LUA_CPATH="build/jit/?.so;;" luajit bench/pieces.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
local args = require "onlyoffice.args"
local response = require "onlyoffice.response"
local cjson = require "cjson"
local core = require "onlyoffice.core"

-- A people/@self answer like the nginx benchmark's (bench/nginx/self.lua).
local profile = { displayName = "Ada Example", email = "bench@example.com", notes = ("x"):rep(1200),
  groups = { { id = "0a1b2c3d-0000-4000-8000-000000000001", name = "Engineering" } }, isAdmin = false,
  usedSpace = 123456789 }
local body = cjson.encode({ response = profile, count = 1, status = 0, statusCode = 200 })

local function bench(name, n, f)
  local t = os.clock()
  for _ = 1, n do
    f()
  end
  print(string.format("%-28s %6.2f us", name, (os.clock() - t) / n * 1e6))
end

local N = 200000
local keep = function(x) return x end
local answer = { status = 200, body = body, ctype = "application/json", headers = {} }
print(#body .. "-byte answer, " .. (jit and jit.version or _VERSION))
bench("args.target", N, function() return args.target("people/@self", nil, 1) end)
bench("args.target with a query", N, function() return args.target("files/@my", { count = 25 }, 1) end)
bench("core.utf8_valid", N, function() return core.utf8_valid(body) end)
bench("cjson.decode", N, function() return cjson.decode(body) end)
bench("response.success", N, function() return response.success(answer, keep) end)
