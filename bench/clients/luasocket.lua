-- What a Lua user reaches for: LuaSocket (LuaSec for https) and lua-cjson.
-- One connection per request: socket.http has no keep-alive.
--   lua5.4 bench/clients/luasocket.lua URL TOKEN N [CAFILE]
local ltn12 = require "ltn12"
local cjson = require "cjson.safe"
local now = require("system").gettime

local url, token, n, cafile = arg[1], arg[2], tonumber(arg[3]), arg[4]
local http = url:match("^https") and require("ssl.https") or require("socket.http")

local function get()
  local parts = {}
  local req = { url = url, headers = { Authorization = token, Accept = "application/json" },
    sink = ltn12.sink.table(parts) }
  if cafile then
    req.cafile, req.verify, req.mode, req.protocol = cafile, "peer", "client", "any"
  end
  local ok, code = http.request(req)
  assert(ok and code == 200, code)
  assert(type(cjson.decode(table.concat(parts))) == "table")
end

get()
local t0 = now()
for _ = 1, n - 1 do
  get()
end
print(string.format("%.1f", (now() - t0) / (n - 1) * 1e6))
