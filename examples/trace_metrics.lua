-- Request metrics from trace events: counts per status (or failure kind) and
-- the time spent waiting for answers, printed at the end.
--   ONLYOFFICE_URL=https://portal.example.com ONLYOFFICE_USER=me@example.com \
--   ONLYOFFICE_PASSWORD=correct-horse-7 lua5.4 examples/trace_metrics.lua
local onlyoffice = require "onlyoffice"

local counts, total, requests = {}, 0, 0

-- Each event is a table; paths in it are redacted like trace lines.
local function record(e)
  if e.phase == "request" then
    requests = requests + 1
    return
  end
  local key = e.status and tostring(e.status) or e.kind -- a failure has a kind, no status
  counts[key] = (counts[key] or 0) + 1
  total = total + e.seconds
end

local s, err = onlyoffice.login(os.getenv("ONLYOFFICE_URL"), os.getenv("ONLYOFFICE_USER"),
  os.getenv("ONLYOFFICE_PASSWORD"), { code = os.getenv("ONLYOFFICE_CODE"), trace = record, trace_events = true })
if s == nil then
  io.stderr:write("login failed: ", err, "\n")
  os.exit(1)
end

onlyoffice.assert(s:get("people/@self"))
s:batch({ { "GET", "files/@my" }, { "GET", "files/file/0" } }) -- the second one fails: counted too
s:close()

local keys = {}
for key in pairs(counts) do
  keys[#keys + 1] = key
end
table.sort(keys)
print(("%d requests, %.3f s waiting for answers"):format(requests, total))
for _, key in ipairs(keys) do
  print(("  %-8s %d"):format(key, counts[key]))
end
