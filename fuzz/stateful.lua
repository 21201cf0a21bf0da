-- A seeded, stateful random test of the onlyoffice module against the portal
-- emulator (emulator/control.lua starts it; it is always stopped again).
--
--   lua5.4 fuzz/stateful.lua [--seed N] [--seconds T] [--steps S] [--log FILE]
--                            [--ignore SIG,...] [--shrink-seconds T] [--no-shrink] [--verbose] [--stats]
--                            [--strict]
--
-- It prints the seed first, then runs random operations on a few session slots
-- (logins, token sessions, get/post/put/delete/request on echo, slow, flaky,
-- status, hostile raw answers, redirects and a leaking endpoint, batches of 0..40
-- requests at concurrency 1..50, uploads, downloads, pages, token revokes, logouts,
-- closes, dropped sessions and collectgarbage()), many with callbacks (trace,
-- progress, sink, reader) that re-enter the session, close it, log it out, raise,
-- yield, collect garbage, drop or close other sessions, or call another session.
-- After each operation it checks the contract (/tmp/contract.md): result shapes and
-- failure kinds, the outcome the emulator must give, no password or token in any
-- failure, detail, raised error or trace line (raw, URL-encoded and JSON-escaped),
-- closed sessions answer "closed", open ones keep working.
--
-- On a failed invariant it replays the recorded operations (the emulator reset
-- with /__emu/reset before each replay) to shrink them by delta debugging, prints
-- the shortest failing sequence as Lua-ish lines and the seed, and exits 1.
-- --seed with --steps replays a run exactly (the operations do not depend on
-- what the portal answered). --ignore SIG skips invariants whose name starts
-- with SIG (names are printed with each failure), to look past a known bug.
-- --strict also wants detail.method and detail.path in every failure that is
-- not kind "source" or "sink" (the contract says they name the request).
--
-- Under AddressSanitizer a memory error kills the process before anything can
-- be printed: pass --log FILE and each operation is written there (one line,
-- flushed) before it runs, so the last line names the operation that crashed.
--   make -s asan
--   LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
--   ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ONLYOFFICE_CPATH=build/asan/5.4/?.so \
--   lua5.4 fuzz/stateful.lua --seconds 30 --log /tmp/stateful.log
--
-- As a module (spec/stateful_spec.lua): require("stateful").run{ seed =, seconds =,
-- steps =, log =, ignore = {...}, shrink_seconds =, quiet = } -> ok, report.

local M = {}

local unpack = table.unpack or unpack

---------------------------------------------------------------------------
-- Paths: the module and the emulator from this checkout, like the specs
---------------------------------------------------------------------------

local ROOT = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/fuzz/[^/]*$")) or "."
local RUNTIME = rawget(_G, "jit") and "jit" or _VERSION:match("%d+%.%d+")

local function add_path(field, entries)
  local current = package[field]
  for i = #entries, 1, -1 do
    if not current:find(entries[i], 1, true) then
      current = entries[i] .. ";" .. current
    end
  end
  package[field] = current
end

add_path("path", { ROOT .. "/lua/?.lua", ROOT .. "/lua/?/init.lua", ROOT .. "/emulator/?.lua" })
add_path("cpath", { os.getenv("ONLYOFFICE_CPATH") or (ROOT .. "/build/" .. RUNTIME .. "/?.so") })

local onlyoffice = require "onlyoffice"
local control = require "control"
local cjson = require "cjson"

local USER, PASSWORD = "user@example.com", "correct-horse-7"
local ODD_USER, ODD_PASSWORD = "odd@example.com", "p\"a\\ss w\trd\n\226\130\172\1</"
local NSLOTS = 4
local BIG_ID, ELSEWHERE_ID, BROKEN_ID = 999000, 999998, 999999

---------------------------------------------------------------------------
-- A portable generator (Park-Miller): the same numbers on every runtime
---------------------------------------------------------------------------

local function new_rng(seed)
  local x = math.floor(seed) % 2147483646 + 1
  local r = {}
  function r.next()
    x = (x * 16807) % 2147483647
    return x
  end
  function r.int(a, b)
    return a + r.next() % (b - a + 1)
  end
  function r.float()
    return r.next() / 2147483647
  end
  function r.chance(p)
    return r.float() < p
  end
  function r.pick(t)
    return t[r.int(1, #t)]
  end
  -- { {weight, value}, ... }
  function r.weighted(list)
    local total = 0
    for _, e in ipairs(list) do
      total = total + e[1]
    end
    local v = r.float() * total
    for _, e in ipairs(list) do
      v = v - e[1]
      if v < 0 then
        return e[2]
      end
    end
    return list[#list][2]
  end
  return r
end

local function pack(...)
  return { n = select("#", ...), ... }
end

local function now()
  return os.time()
end

---------------------------------------------------------------------------
-- Printing values as Lua
---------------------------------------------------------------------------

local function ser(v, depth)
  depth = depth or 0
  local t = type(v)
  if t == "string" then
    return (string.format("%q", v):gsub("\\\n", "\\n"))
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  elseif t ~= "table" then
    return "<" .. t .. ">"
  end
  if depth > 4 then
    return "{...}"
  end
  local parts, n = {}, #v
  for i = 1, n do
    parts[#parts + 1] = ser(v[i], depth + 1)
  end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(keys) do
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. ser(k) .. "]")
    parts[#parts + 1] = key .. " = " .. ser(v[k], depth + 1)
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function short(s, n)
  s = tostring(s)
  n = n or 300
  if #s > n then
    return s:sub(1, n) .. "...(" .. #s .. " bytes)"
  end
  return s
end

---------------------------------------------------------------------------
-- Test data made from seeds
---------------------------------------------------------------------------

local content_cache = {}
local function content_of(seed, size)
  local key = seed .. ":" .. size
  if content_cache[key] then
    return content_cache[key]
  end
  local r = new_rng(seed)
  local parts, chunk = {}, {}
  for _ = 1, size do
    chunk[#chunk + 1] = r.int(0, 255)
    if #chunk == 2048 then
      parts[#parts + 1] = string.char(unpack(chunk))
      chunk = {}
    end
  end
  if #chunk > 0 then
    parts[#parts + 1] = string.char(unpack(chunk))
  end
  local s = table.concat(parts)
  content_cache[key] = s
  return s
end

-- Pieces of a reader: sizes from the seed, summing to size.
local function pieces_of(seed, content)
  local r = new_rng(seed + 7)
  local list, pos = {}, 1
  while pos <= #content do
    local n = r.pick({ 1, 3, 17, 100, 1000, 4096, 20000 })
    list[#list + 1] = content:sub(pos, pos + n - 1)
    pos = pos + n
  end
  return list
end

local TEXT_BITS = { "a", "b", "Z", "0", "9", " ", "&", "=", "+", "%", "/", "?", "#", "~", "-", ".", "_", ",",
  ";", "'", "\"", "\195\169", "\226\130\172", "\230\151\165", "%41", "%", "*" }

local function random_text(r, max)
  local parts = {}
  for _ = 1, r.int(0, max or 8) do
    parts[#parts + 1] = r.pick(TEXT_BITS)
  end
  return table.concat(parts)
end

---------------------------------------------------------------------------
-- Secrets in their forms: raw, URL-encoded, JSON-escaped
---------------------------------------------------------------------------

local function url_form(s, hex, plus)
  return (s:gsub("[^A-Za-z0-9%-%._~]", function(c)
    if plus and c == " " then
      return "+"
    end
    return string.format(hex, c:byte())
  end))
end

local function module_json(s)
  return (s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then
      return "\\" .. c
    end
    if c:byte() < 32 then
      return string.format("\\u%04x", c:byte())
    end
  end))
end

local function forms_of(secret)
  local list = {
    { "raw", secret },
    { "url", url_form(secret, "%%%02X") },
    { "url-lower", url_form(secret, "%%%02x") },
    { "form", url_form(secret, "%%%02X", true) },
    { "json", module_json(secret) },
    { "json-slash", (module_json(secret):gsub("/", "\\/")) },
    { "json-cjson", cjson.encode(secret):sub(2, -2) },
    { "json-cjson-noslash", (cjson.encode(secret):sub(2, -2):gsub("\\/", "/")) },
  }
  local seen, out = {}, {}
  for _, f in ipairs(list) do
    if not seen[f[2]] then
      seen[f[2]] = true
      out[#out + 1] = { form = f[1], text = f[2] }
    end
  end
  return out
end

---------------------------------------------------------------------------
-- Generation: every operation is plain data, independent of the answers
---------------------------------------------------------------------------

local RAW_KINDS = {
  endless_headers = { network = true }, drip = { timeout = true }, short_length = { network = true },
  long_length = { json = true }, reset_at_once = { network = true }, reset_in_status = { network = true },
  reset_in_headers = { network = true }, reset_in_body = { network = true }, bad_utf8 = { json = true },
  deep_json = { json = true }, huge = { too_large = true },
}
local RAW_NAMES = {}
for k in pairs(RAW_KINDS) do
  RAW_NAMES[#RAW_NAMES + 1] = k
end
table.sort(RAW_NAMES)

local RETRIABLE = { [429] = true, [502] = true, [503] = true, [504] = true }

local function gen_query(r)
  local q = {}
  for i = 1, r.int(1, 3) do
    local k = "q" .. i .. random_text(r, 2)
    local roll = r.int(1, 4)
    if roll == 1 then
      q[k] = r.int(-5, 100000)
    elseif roll == 2 then
      q[k] = { random_text(r, 4) .. "x", random_text(r, 4) .. "y" }
    else
      q[k] = random_text(r, 10)
    end
  end
  return q
end

local function gen_body(r)
  local roll = r.int(1, 4)
  if roll == 1 then
    return nil
  elseif roll == 2 then
    return { a = r.int(1, 9), s = random_text(r, 6), list = { 1, 2, 3 } }
  end
  return random_text(r, 20)
end

-- One request spec: what to call and what the emulator must answer.
local function gen_reqspec(r, id, in_batch)
  local kind = r.weighted({ { 12, "echo" }, { 6, "self" }, { 6, "slow" }, { 8, "flaky" }, { 8, "status" },
    { in_batch and 3 or 6, "raw" }, { 7, "redirect" }, { 5, "leak" }, { 3, "files" }, { 3, "file" },
    { 2, "nothing" } })
  local spec = { kind = kind }
  if kind == "echo" then
    spec.method = r.pick({ "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD" })
    spec.path = "emu/echo"
    if r.chance(0.5) then
      spec.query = gen_query(r)
    end
    if spec.method ~= "GET" and spec.method ~= "HEAD" then
      spec.body = gen_body(r)
    end
    if r.chance(0.3) then
      spec.headers = { ["X-Fuzz-" .. r.int(1, 9)] = "v" .. r.int(1, 99999) .. random_text(r, 3) .. "z" }
    end
    spec.auth = true
  elseif kind == "self" then
    spec.method, spec.path, spec.auth = "GET", "people/@self", true
  elseif kind == "files" then
    spec.method, spec.path, spec.auth = "GET", r.pick({ "files/@my", "files/1001" }), true
    spec.query = { count = r.int(1, 100), startIndex = r.int(0, 240) }
  elseif kind == "file" then
    spec.method, spec.path, spec.auth = "GET", "files/file/", true
    spec.ref = r.int(1, 50) -- an uploaded file, or a missing one when none
  elseif kind == "nothing" then
    spec.method, spec.path = r.pick({ "GET", "POST", "DELETE" }), "emu/nothing" .. r.int(1, 9)
  elseif kind == "slow" then
    spec.method, spec.path = r.pick({ "GET", "POST" }), "emu/slow"
    local ms = r.int(0, 300)
    spec.query = { ms = ms }
    if ms >= 200 and r.chance(0.4) then
      spec.timeout, spec.expect_timeout = ms / 4000, true
    elseif r.chance(0.5) then
      spec.timeout = ms / 1000 + 3
    end
  elseif kind == "flaky" then
    spec.method = r.pick({ "GET", "GET", "HEAD", "POST" })
    spec.path = "emu/flaky"
    spec.query = { key = "k" .. id, times = r.int(0, 3),
      status = r.pick({ 503, 503, 429, 502, 504, 500, 401 }) }
    local after = r.pick({ "none", "none", "0", "1" })
    if after ~= "none" then
      spec.query.after = after
    end
  elseif kind == "status" then
    spec.method = r.pick({ "GET", "POST", "DELETE", "HEAD" })
    spec.path = "emu/status"
    spec.code = r.pick({ 400, 403, 404, 409, 500, 501, 502, 503, 429, 401 })
    spec.query = { code = spec.code }
  elseif kind == "raw" then
    spec.raw = r.pick(RAW_NAMES)
    spec.method = r.pick({ "GET", "POST" })
    spec.path = "emu/raw/" .. spec.raw
    spec.timeout = spec.raw == "drip" and 0.3 or 4
  elseif kind == "redirect" then
    spec.method = r.pick({ "GET", "POST", "PUT", "HEAD", "DELETE" })
    spec.path = "emu/redirect"
    spec.code = r.pick({ 301, 302, 303, 307, 308 })
    spec.to = r.weighted({ { 6, "echo" }, { 2, "other" }, { 1, "loop" }, { 1, "ftp" }, { 1, "status" } })
    if spec.method == "POST" or spec.method == "PUT" then
      spec.body = random_text(r, 12) .. "b"
    end
    spec.auth = spec.to == "echo"
  elseif kind == "leak" then
    spec.method = r.pick({ "POST", "PUT" })
    spec.path = "emu/leak"
    spec.leak = {}
    for _ = 1, r.int(1, 3) do
      spec.leak[#spec.leak + 1] = { secret = r.pick({ "token", "token", "password" }),
        form = r.pick({ "raw", "url", "url-lower", "form", "json", "json-slash", "json-cjson" }) }
    end
  end
  return spec
end

-- A callback behaviour: at its at-th call, run the actions in order.
local REENTER = { "get", "post", "request", "delete", "put", "batch", "upload", "download", "pages", "token" }

local function gen_actions(r, slot, opts)
  local acts = {}
  for _ = 1, r.weighted({ { 6, 1 }, { 2, 2 }, { 1, 3 } }) do
    local what = r.weighted({ { 5, "reenter" }, { 4, "reenter_pcall" }, { 4, "close" }, { 2, "logout" },
      { 5, "raise" }, { 3, "gc" }, { 2, "drop" }, { 3, "cross" }, { 2, "close_other" }, { 1, "revoke" },
      { opts.yield and (opts.trace and 6 or 2) or 0, "yield" }, { opts.grow and 4 or 0, "grow" } })
    local a = { what = what }
    if what == "grow" then
      a.shrink = r.chance(0.5)
    elseif what == "reenter" or what == "reenter_pcall" then
      a.method = r.pick(REENTER)
    elseif what == "raise" then
      a.table = r.chance(0.4)
    elseif what == "drop" then
      a.slot = r.int(1, NSLOTS)
    elseif what == "cross" or what == "close_other" then
      a.slot = (slot + r.int(0, NSLOTS - 2)) % NSLOTS + 1
    end
    acts[#acts + 1] = a
  end
  return acts
end

local function gen_cb(r, slot, p, opts)
  if not r.chance(p) then
    return nil
  end
  opts = opts or {}
  return { at = r.weighted({ { 5, 1 }, { 3, 2 }, { 2, 3 }, { 1, 5 } }), actions = gen_actions(r, slot, opts) }
end

local function gen_session_opts(r)
  local o = { timeout = r.pick({ 4, 6 }), connect_timeout = 2, retries = r.int(0, 3),
    max_retry_wait = r.pick({ 0, 0.05, 0.3 }), max_body = r.pick({ 131072, 1048576, 4194304 }),
    stall_timeout = r.pick({ 1, 2 }) }
  if r.chance(0.2) then
    o.headers = { ["X-Session"] = "s" .. r.int(1, 99) }
  end
  return o
end

local USERS = {
  user = { USER, PASSWORD, mode = "ok" },
  odd = { ODD_USER, ODD_PASSWORD, mode = "ok" },
  pascal = { "pascal@example.com", PASSWORD, mode = "ok" },
  tfa = { "tfa@example.com", PASSWORD, code = "123456", mode = "fails" },
  tfa_nocode = { "tfa@example.com", PASSWORD, fail = "tfa" },
  sms_nocode = { "sms@example.com", PASSWORD, fail = "sms" },
  badpass = { "throttle@example.com", "wrong-password-1", fail = "login" },
  nouser = { "nobody@example.com", PASSWORD, fail = "login" },
}

local function gen_op(r, id)
  local t = r.weighted({ { 10, "login" }, { 4, "session" }, { 30, "request" }, { 12, "batch" }, { 9, "upload" },
    { 9, "download" }, { 4, "pages" }, { 3, "revoke" }, { 2, "close" }, { 2, "drop" }, { 2, "gc" },
    { 1, "logout" }, { 7, "health" }, { 3, "badarg" } })
  local slot = r.int(1, NSLOTS)
  local op = { t = t, id = id, slot = slot }
  local yield_ok = r.chance(0.15)
  if t == "login" then
    op.user = r.weighted({ { 10, "user" }, { 3, "odd" }, { 1, "pascal" }, { 1, "tfa" }, { 1, "tfa_nocode" },
      { 1, "sms_nocode" }, { 1, "badpass" }, { 1, "nouser" } })
    op.flavor = r.weighted({ { 4, "docspace" }, { 1, "workspace" }, { 1, "https" } })
    op.opts = gen_session_opts(r)
    if r.chance(0.2) then
      op.opts.relogin = r.chance(0.5)
    end
    op.named = r.chance(0.3)
  elseif t == "session" then
    op.from = r.weighted({ { 6, "slot" }, { 2, "bogus" }, { 1, "short" } })
    op.from_slot = r.int(1, NSLOTS)
    op.flavor = r.weighted({ { 4, "docspace" }, { 1, "workspace" }, { 1, "https" } })
    op.opts = gen_session_opts(r)
  elseif t == "request" then
    op.spec = gen_reqspec(r, id, false)
    op.form = r.pick({ "short", "request" })
    op.trace_cb = gen_cb(r, slot, 0.25, { yield = yield_ok, trace = true })
  elseif t == "batch" then
    op.items = {}
    local n = r.weighted({ { 1, 0 }, { 4, r.int(1, 5) }, { 3, r.int(6, 20) }, { 2, r.int(21, 40) } })
    local heavy = 0
    for i = 1, n do
      local spec = gen_reqspec(r, id .. "_" .. i, true)
      if spec.kind == "raw" or (spec.kind == "slow" and spec.query.ms > 100) then
        heavy = heavy + 1
        if heavy > 4 then
          spec = { kind = "self", method = "GET", path = "people/@self", auth = true }
        end
      end
      spec.named = r.chance(0.3)
      op.items[i] = spec
    end
    op.concurrency = r.weighted({ { 3, r.int(1, 8) }, { 2, r.int(9, 50) }, { 1, "default" } })
    op.trace_cb = gen_cb(r, slot, 0.25, { yield = yield_ok, trace = true })
  elseif t == "upload" then
    op.folder = r.pick({ 1001, 1001, "@my" })
    op.src = r.weighted({ { 5, "data" }, { 5, "reader" }, { 4, "path" }, { 1, "missing" }, { 1, "dir" } })
    op.size = r.weighted({ { 1, 0 }, { 3, r.int(1, 100) }, { 4, r.int(100, 20000) }, { 2, r.int(20000, 150000) } })
    op.seed = r.int(1, 1000000)
    if op.src == "reader" then
      op.variant = r.weighted({ { 8, "exact" }, { 1, "short" }, { 1, "long" }, { 1, "error" },
        { 1, "error_at_end" } })
      if (op.variant == "short" or op.variant == "error") and op.size < 2 then
        op.variant = "exact"
      end
    end
    op.chunked = r.chance(0.4)
    if op.chunked or r.chance(0.3) then
      op.chunk_size = math.max(1, math.floor(op.size / r.int(1, 12)) + r.int(0, 3))
    end
    op.failchunk = r.chance(0.1)
    op.progress = r.chance(0.6)
    op.progress_cb = op.progress and gen_cb(r, slot, 0.35, { yield = yield_ok, grow = op.src == "path" }) or nil
    op.reader_cb = op.src == "reader" and gen_cb(r, slot, 0.2, { yield = yield_ok }) or nil
    op.trace_cb = gen_cb(r, slot, 0.15, { yield = yield_ok, trace = true })
  elseif t == "download" then
    op.file = r.weighted({ { 8, "uploaded" }, { 2, "big" }, { 2, "elsewhere" }, { 1, "broken" },
      { 1, "portal" }, { 1, "missing" } })
    op.ref = r.int(1, 50)
    op.target = r.weighted({ { 4, "sink" }, { 3, "path" }, { 2, "replace" }, { 1, "baddir" }, { 1, "isdir" } })
    op.durable = r.chance(0.2)
    op.progress = r.chance(0.5)
    op.progress_cb = op.progress and gen_cb(r, slot, 0.3, { yield = yield_ok }) or nil
    if op.target == "sink" then
      op.sink_cb = gen_cb(r, slot, 0.35, { yield = yield_ok })
      if r.chance(0.15) then
        op.sink_stop = { at = r.int(1, 4), how = r.pick({ "nil_err", "false" }) }
      end
      op.sink_end_cb = gen_cb(r, slot, 0.1, {})
    end
    op.trace_cb = gen_cb(r, slot, 0.15, { yield = yield_ok, trace = true })
  elseif t == "pages" then
    op.path = r.pick({ "people", "files/@my", "files/1001" })
    op.count = r.int(7, 100)
    op.count_in = r.pick({ "option", "query", "query_string" })
    op.stop_after = r.chance(0.4) and r.int(1, 160) or nil
    if r.chance(0.4) then
      op.body = { at = r.int(1, 120), what = r.pick({ "get", "close", "revoke", "gc", "drop_self" }) }
    end
    op.trace_cb = gen_cb(r, slot, 0.15, { yield = yield_ok, trace = true })
  elseif t == "revoke" then
    op.user = r.weighted({ { 5, USER }, { 2, ODD_USER }, { 1, "tfa@example.com" }, { 1, "pascal@example.com" } })
  elseif t == "close" then
    op.twice = r.chance(0.3)
  elseif t == "drop" then
    op.gc = r.chance(0.5)
  elseif t == "badarg" then
    op.what = r.pick({ "method", "get_body", "head_body", "request_key", "batch_key", "concurrency", "upload_name",
      "path_newline", "header_auth", "query_value", "chunk_size" })
  end
  if op.trace_cb or op.progress_cb or op.sink_cb or op.reader_cb then
    op.co = yield_ok
    op.abandon = yield_ok and r.chance(0.3)
  end
  return op
end

---------------------------------------------------------------------------
-- Describing operations as Lua-ish lines
---------------------------------------------------------------------------

local function describe_cb(name, cb)
  if not cb then
    return nil
  end
  local acts = {}
  for _, a in ipairs(cb.actions) do
    local s = a.what
    if a.method then
      s = s .. " s:" .. a.method
    end
    if a.slot then
      s = s .. " s" .. a.slot
    end
    if a.table then
      s = s .. " {table}"
    end
    if a.shrink then
      s = s .. " (truncate)"
    end
    acts[#acts + 1] = s
  end
  return name .. " call " .. cb.at .. ": " .. table.concat(acts, ", ")
end

-- Appends to parts the request's options as Lua source, "name = value".
local function option_fields(parts, q, body, spec)
  if q then
    parts[#parts + 1] = "query = " .. q
  end
  if body then
    parts[#parts + 1] = "body = " .. body
  end
  if spec.headers then
    parts[#parts + 1] = "headers = " .. ser(spec.headers)
  end
  if spec.timeout then
    parts[#parts + 1] = "timeout = " .. spec.timeout
  end
  return parts
end

local function spec_call(spec, form, target)
  local m = spec.method
  local path = spec.path .. (spec.kind == "file" and ("<uploaded #" .. spec.ref .. ">") or "")
  local q = spec.query and ser(spec.query)
  if spec.kind == "redirect" then
    q = ser({ code = spec.code, to = "<" .. spec.to .. ">" })
  end
  local body = spec.body ~= nil and ser(spec.body) or nil
  if spec.leak then
    local fs = {}
    for _, l in ipairs(spec.leak) do
      fs[#fs + 1] = l.secret .. ":" .. l.form
    end
    body = "<body with " .. table.concat(fs, " ") .. ">"
  end
  if target == "item" then
    return "{ " .. table.concat(option_fields({ ser(m), ser(path) }, q, body, spec), ", ") .. " }"
  end
  if form == "short" and not spec.headers and not spec.timeout and (m == "GET" or m == "DELETE") and body == nil then
    return ":" .. m:lower() .. "(" .. ser(path) .. (q and (", " .. q) or "") .. ")"
  elseif form == "short" and not spec.headers and not spec.timeout and (m == "POST" or m == "PUT") then
    return ":" .. m:lower() .. "(" .. ser(path) .. ", " .. (body or "nil") .. (q and (", " .. q) or "") .. ")"
  end
  local o = option_fields({}, q, body, spec)
  return ":request(" .. ser(m) .. ", " .. ser(path) .. (#o > 0 and (", { " .. table.concat(o, ", ") .. " }") or "")
    .. ")"
end

local function describe(op)
  local s = "s" .. op.slot
  local line
  local cbs = {}
  local function add(name, cb)
    local d = describe_cb(name, cb)
    if d then
      cbs[#cbs + 1] = d
    end
  end
  if op.t == "login" then
    local u = USERS[op.user]
    local o = {}
    for k, v in pairs(op.opts) do
      o[k] = v
    end
    o.trace = "<trace>"
    o.code = u.code
    o.cafile = op.flavor == "https" and "<test CA>" or nil
    line = ("%s = onlyoffice.login(%s, %s, %s, %s)%s"):format(s, op.flavor:upper(), ser(u[1]),
      u[2] == PASSWORD and "PASSWORD" or ser(u[2]), ser(o), op.named and "  -- named form" or "")
  elseif op.t == "session" then
    local tok = op.from == "slot" and ("s" .. op.from_slot .. ":token()") or op.from == "short" and '"abc' .. op.id
      % 10 .. '"' or ('"fuzz-bogus-token-' .. op.id .. '"')
    local o = {}
    for k, v in pairs(op.opts) do
      o[k] = v
    end
    o.cafile = op.flavor == "https" and "<test CA>" or nil
    line = ("%s = onlyoffice.session(%s, %s, %s)"):format(s, op.flavor:upper(), tok, ser(o))
  elseif op.t == "request" then
    line = s .. spec_call(op.spec, op.form)
  elseif op.t == "batch" then
    local items = {}
    for _, spec in ipairs(op.items) do
      items[#items + 1] = spec_call(spec, nil, "item")
    end
    line = ("%s:batch({ %s }%s)"):format(s, table.concat(items, ", "),
      op.concurrency == "default" and "" or (", { concurrency = " .. op.concurrency .. " }"))
  elseif op.t == "upload" then
    local src
    if op.src == "data" then
      src = "{ data = <" .. op.size .. " bytes> }"
    elseif op.src == "reader" then
      src = "{ reader = <" .. op.variant .. " reader>, size = " .. op.size .. " }"
    elseif op.src == "path" then
      src = "<file of " .. op.size .. " bytes>"
    else
      src = "<" .. op.src .. " path>"
    end
    local o = { name = op.failchunk and "failchunk.bin" or "up.bin", chunked = op.chunked or nil,
      chunk_size = op.chunk_size, progress = op.progress and "<progress>" or nil }
    line = ("%s:upload(%s, %s, %s)"):format(s, ser(op.folder), src, ser(o))
    add("progress", op.progress_cb)
    add("reader", op.reader_cb)
  elseif op.t == "download" then
    local o = { durable = op.durable or nil, progress = op.progress and "<progress>" or nil }
    line = ("%s:download(<%s%s>, <%s>, %s)"):format(s, op.file, op.file == "uploaded" and (" #" .. op.ref) or "",
      op.target, ser(o))
    add("progress", op.progress_cb)
    add("sink", op.sink_cb)
    add("sink(nil)", op.sink_end_cb)
    if op.sink_stop then
      cbs[#cbs + 1] = "sink returns " .. op.sink_stop.how .. " at call " .. op.sink_stop.at
    end
  elseif op.t == "pages" then
    line = ("for item in %s:pages(%s, <count %d in %s>) do%s%s end"):format(s, ser(op.path), op.count, op.count_in,
      op.body and (" <at item " .. op.body.at .. ": " .. op.body.what .. ">") or "",
      op.stop_after and (" <break after " .. op.stop_after .. ">") or "")
  elseif op.t == "revoke" then
    line = "portal:control(\"revoke\", { user = " .. ser(op.user) .. " })"
  elseif op.t == "close" then
    line = s .. ":close()" .. (op.twice and "; " .. s .. ":close()" or "")
  elseif op.t == "drop" then
    line = s .. " = nil" .. (op.gc and "; collectgarbage()" or "")
  elseif op.t == "gc" then
    line = "collectgarbage()"
  elseif op.t == "logout" then
    line = s .. ":logout()"
  elseif op.t == "health" then
    line = "-- check: every open session answers s:get(\"people/@self\"), closed ones \"closed\""
  elseif op.t == "badarg" then
    line = s .. ":<bad argument: " .. op.what .. ">  -- must raise"
  end
  add("trace", op.trace_cb)
  if #cbs > 0 then
    line = line .. "  -- " .. table.concat(cbs, "; ")
  end
  if op.co then
    line = line .. (op.abandon and "  [in a coroutine, abandoned if it yields]" or "  [in a coroutine]")
  end
  if op.note then
    line = line .. "  (" .. op.note .. ")"
  end
  return "[" .. op.id .. "] " .. line
end

---------------------------------------------------------------------------
-- The runner: slots of sessions, a model of what each may answer, checks
---------------------------------------------------------------------------

local Runner = {}
Runner.__index = Runner

local KINDS = { http = true, network = true, timeout = true, tls = true, json = true, closed = true, login = true,
  rate_limit = true, auth = true,
  io = true, redirect = true, sink = true, source = true, too_large = true }

-- Text only the emulator writes: a short-secret session must get none of it.
local SERVER_WORDS = { "emulated failure", "rejected token", "Not found", "required file", "Unauthorized",
  "Emulated chunk", "authentication failed", "No file", "127.0.0.1" }

local function is_int(v)
  if math.type then
    return math.type(v) == "integer"
  end
  return type(v) == "number" and v % 1 == 0
end

function Runner.new(env, opts)
  local R = setmetatable({ env = env, opts = opts, ignore = opts.ignore or {}, stats = {} }, Runner)
  R.pid = (control.read_file("/proc/self/stat") or ""):match("^(%d+)") or "0"
  return R
end

function Runner:count(key)
  self.stats[key] = (self.stats[key] or 0) + 1
end

function Runner:ignored(sig)
  for _, prefix in ipairs(self.ignore) do
    if sig:sub(1, #prefix) == prefix then
      return true
    end
  end
  return false
end

function Runner:violate(sig, msg)
  if self:ignored(sig) then
    return
  end
  local ctx = self.ctx
  if ctx and not ctx.violation then
    ctx.violation = { sig = sig, msg = msg }
  elseif not ctx and not self.pending then
    self.pending = { sig = sig, msg = msg }
  end
end

-- Fresh state: no sessions, the emulator reset, an empty scratch folder.
function Runner:reset()
  for _, rec in pairs(self.slots or {}) do
    if rec.s and not rec.stuck then
      pcall(rec.s.close, rec.s)
    end
  end
  self.slots = {}
  self.uploaded = {}
  self.secrets = {}
  self.secret_index = {}
  self.pending = nil
  self.ctx = nil
  collectgarbage("collect")
  if self.control_s then
    self.control_s:close()
  end
  self.control_s = onlyoffice.session(self.env.docspace, "control-token", { retries = 0, timeout = 10 })
  self:control("reset")
  control.sh("rm -rf '" .. self.env.tmp .. "' && mkdir -p '" .. self.env.tmp .. "'")
  self:add_secret(PASSWORD, "password")
  self:add_secret(ODD_PASSWORD, "odd password")
end

function Runner:control(name, query)
  local data, err = self.control_s:get("/__emu/" .. name, query)
  if data == nil then
    error("emulator control " .. name .. " failed: " .. tostring(err), 0)
  end
  return data
end

function Runner:token_valid(token)
  if not token then
    return false
  end
  return self:control("valid", { token = token }).valid == true
end

-- Secrets are found by their first 8 bytes, so a scan costs one lookup per position.
function Runner:add_secret(secret, label)
  if type(secret) ~= "string" or #secret < 8 or self.secrets[secret] then
    return
  end
  self.secrets[secret] = label
  for _, f in ipairs(forms_of(secret)) do
    local key = f.text:sub(1, 8)
    local list = self.secret_index[key]
    if not list then
      list = {}
      self.secret_index[key] = list
    end
    list[#list + 1] = { text = f.text, form = f.form, label = label, secret = secret }
  end
end

function Runner:scan(str, where, rec)
  if #str < 8 then
    return
  end
  local index = self.secret_index
  for i = 1, #str - 7 do
    local list = index[str:sub(i, i + 7)]
    if list then
      for _, e in ipairs(list) do
        if str:sub(i, i + #e.text - 1) == e.text then
          local which = "password"
          if e.label:find("token", 1, true) then
            local now_token = rec and rec.s and rec.s:token()
            which = (e.secret == now_token or now_token == nil and e.secret == (rec and rec.tok0)) and "current-token"
              or e.secret == (rec and rec.tok0) and "token-before-relogin" or "other-token"
          end
          local sig = "redaction:" .. which .. ":" .. e.form
          self:violate(sig, ("%s holds %s (%s form) unredacted: %s"):format(where, e.label, e.form, short(str)))
          return
        end
      end
    end
  end
end

function Runner:walk(v, where, rec, depth, seen)
  depth = depth or 0
  local t = type(v)
  if t == "string" then
    self:scan(v, where, rec)
  elseif t == "table" and depth < 30 then
    seen = seen or {}
    if seen[v] then
      return
    end
    seen[v] = true
    for k, x in pairs(v) do
      if type(k) == "string" then
        self:scan(k, where, rec)
      end
      self:walk(x, where .. "." .. tostring(k), rec, depth + 1, seen)
    end
  end
end

-- Failures of a session with a short secret carry none of the server's text.
function Runner:check_short(rec, r, where)
  if not rec.short or r[1] ~= nil or type(r[3]) ~= "table" then
    return
  end
  local d = r[3]
  if d.error ~= nil or d.body ~= nil or (d.kind == "redirect" and d.location ~= nil) then
    self:violate("short-secret:detail", ("%s: a session whose token is shorter than 8 bytes got server text in "
      .. "detail (error=%s, body=%s, location=%s)"):format(where, ser(d.error), ser(d.body), ser(d.location)))
  end
  local msg = tostring(r[2])
  for _, w in ipairs(SERVER_WORDS) do
    if msg:find(w, 1, true) then
      self:violate("short-secret:message", where .. ": server text in the message of a short-secret session: " .. msg)
    end
  end
end

-- The contract's shape of one result (packed); also walks it for secrets.
function Runner:check_shape(r, where, rec, no_info)
  self:count(r[1] == nil and ("kind " .. tostring(type(r[3]) == "table" and r[3].kind)) or "success")
  if r[1] == nil then
    local msg, d = r[2], r[3]
    if type(msg) ~= "string" or msg == "" then
      return self:violate("shape", where .. ": failure without a message: " .. ser(r))
    end
    if type(d) ~= "table" then
      return self:violate("shape", where .. ": failure without a detail table: " .. ser(r))
    end
    if not KINDS[d.kind] then
      return self:violate("shape", where .. ": detail.kind " .. ser(d.kind) .. " is not allowed: " .. msg)
    end
    local k = d.kind
    if k == "http" and not (is_int(d.status) and (d.status < 200 or d.status > 299 or d.chunk)) then
      self:violate("shape", where .. ": kind http without a non-2xx status: " .. ser(d))
    elseif k == "network" and not (is_int(d.curl_code) and d.curl_code ~= 28) then
      self:violate("shape", where .. ": kind network without a curl_code (or with 28): " .. ser(d))
    elseif k == "timeout" and d.curl_code ~= 28 then
      self:violate("shape", where .. ": kind timeout with curl_code " .. ser(d.curl_code))
    elseif k == "json" and not (is_int(d.status) and d.status >= 200 and d.status <= 299) then
      self:violate("shape", where .. ": kind json without a 2xx status: " .. ser(d))
    elseif k == "closed" and msg ~= "session is closed" then
      self:violate("shape", where .. ": kind closed with message " .. ser(msg))
    elseif k == "io" and not is_int(d.errno) then
      self:violate("shape", where .. ": kind io without errno: " .. ser(d))
    elseif k == "redirect" and d.location ~= nil and type(d.location) ~= "string" then
      self:violate("shape", where .. ": detail.location is not a string")
    end
    if self.opts.strict and k ~= "source" and k ~= "sink"
      and (type(d.method) ~= "string" or type(d.path) ~= "string") then
      self:violate("shape:method-path:" .. k, where .. ": detail.method/path missing for kind " .. k .. ": " .. msg)
    end
    self:walk(msg, where .. " message", rec)
    self:walk(d, where .. " detail", rec)
    if rec then
      self:check_short(rec, r, where)
    end
  elseif no_info then
    if r[2] ~= nil then
      self:violate("shape", where .. ": a second value after success: " .. short(ser(r[2])))
    end
  else
    local info = r[2]
    if type(info) ~= "table" or not is_int(info.status) or info.status < 200 or info.status > 299 then
      return self:violate("shape", where .. ": success without info.status 2xx: " .. ser(info))
    end
    if type(info.headers) ~= "table" then
      self:violate("shape", where .. ": info.headers is not a table")
    end
    self:walk(info, where .. " info", rec)
  end
end

---------------------------------------------------------------------------
-- Sessions
---------------------------------------------------------------------------

function Runner:make_trace(rec)
  return function(line)
    if type(line) ~= "string" or not (line:find("^> %u+ ") or line:find("^< %d+ %(%d+ bytes%)$")
      or line:find("^< failed: ")) then
      self:violate("trace-format", "trace line " .. ser(line))
    end
    self:scan(tostring(line), "trace line", rec)
    rec.trace_lines = (rec.trace_lines or 0) + 1
    local hook = rec.trace_hook
    if hook then
      hook()
    end
  end
end

function Runner:session_opts(spec, rec)
  local o = {}
  for k, v in pairs(spec) do
    o[k] = v
  end
  o.trace = self:make_trace(rec)
  if rec.flavor == "https" then
    o.cafile = self.env.cafile
  end
  return o
end

function Runner:url(flavor)
  return flavor == "workspace" and self.env.workspace or flavor == "https" and self.env.https or self.env.docspace
end

function Runner:drop(slot)
  local rec = self.slots[slot]
  if rec then
    rec.dropped = true
  end
  self.slots[slot] = nil
end

-- After an operation: a closed session is closed in every way; an open one's
-- token is a secret from now on.
function Runner:settle(rec, where)
  if not rec.s or rec.stuck then
    return
  end
  if rec.closed then
    if rec.s:token() ~= nil then
      self:violate("closed:token", where .. ": s:token() is not nil after close")
    end
    if tostring(rec.s) ~= "onlyoffice.session (closed)" then
      self:violate("closed:tostring", where .. ": tostring after close is " .. tostring(rec.s))
    end
    local ok, r = pcall(function()
      return pack(rec.s:get("people/@self"))
    end)
    if not ok then
      self:violate("closed:raise", where .. ": a closed session raised on get: " .. tostring(r))
    elseif not (r[1] == nil and type(r[3]) == "table" and r[3].kind == "closed") then
      self:violate("closed:answer", where .. ": a closed session answered " .. short(ser(r)))
    end
  else
    local tok = rec.s:token()
    if tok then
      self:add_secret(tok, "token of s" .. rec.slot)
    end
    if tok and #tok >= 8 and tostring(rec.s):find(tok, 1, true) then
      self:violate("redaction:tostring", where .. ": tostring(session) shows the token")
    end
  end
end

---------------------------------------------------------------------------
-- Callbacks that do things at their n-th call
---------------------------------------------------------------------------

local function note_raise(ctx, e)
  if not ctx.raised then
    ctx.raised, ctx.first_raise = true, e
  end
end

local function reenter(s, method)
  if method == "get" then
    return s:get("people/@self")
  elseif method == "post" then
    return s:post("emu/echo", { a = 1 })
  elseif method == "put" then
    return s:put("emu/echo", "x")
  elseif method == "delete" then
    return s:delete("emu/echo")
  elseif method == "request" then
    return s:request("GET", "emu/echo", { query = { x = "1" } })
  elseif method == "batch" then
    return s:batch({ { "GET", "people/@self" } })
  elseif method == "upload" then
    return s:upload(1001, { data = "x" }, { name = "reenter.txt" })
  elseif method == "download" then
    return s:download(BIG_ID, function() return 1 end)
  elseif method == "pages" then
    local iter = s:pages("people")
    return iter()
  elseif method == "token" then
    return s:token(), s:url(), s:expires(), tostring(s)
  end
end

function Runner:cross(ctx, slot)
  local rec = self.slots[slot]
  if not rec or rec == ctx.rec or rec.stuck or not rec.s then
    return
  end
  local tok = rec.s:token() or rec.tok0
  local r = pack(rec.s:get("people/@self"))
  ctx.cross = ctx.cross or {}
  ctx.cross[#ctx.cross + 1] = { rec = rec, r = r, tok = tok, closed = rec.closed }
end

function Runner:do_action(ctx, a, info)
  self:count("fired " .. a.what)
  local rec = ctx.rec
  local s = rec.s
  local w = a.what
  if w == "close" then
    ctx.close_fired = true
    ctx.close_mid = ctx.close_mid or info.mid
    s:close()
  elseif w == "logout" then
    ctx.logout_token = ctx.logout_token or s:token()
    local r = pack(s:logout())
    if r[1] ~= true then
      self:violate("callback:logout", "s:logout() inside a callback returned " .. short(ser(r)))
    end
    ctx.close_fired, ctx.logout_fired, ctx.disarmed = true, true, true
  elseif w == "reenter" or w == "reenter_pcall" then
    local ok, err = pcall(reenter, s, a.method)
    if a.method == "token" then
      if not ok then
        self:violate("callback:token", "s:token()/url()/expires()/tostring raised in a callback: " .. tostring(err))
      end
      return
    end
    if ok then
      self:violate("callback:reenter", "s:" .. a.method .. "() inside its own callback did not raise")
    elseif not tostring(err):find("session is in use (called from its own callback)", 1, true) then
      self:violate("callback:reenter-message", "s:" .. a.method .. "() inside its own callback raised "
        .. short(tostring(err)))
    end
    if not ok and w == "reenter" then
      note_raise(ctx, err)
      error(err, 0)
    end
  elseif w == "raise" then
    ctx.raise_n = (ctx.raise_n or 0) + 1
    local e = a.table and { fuzz_error = ctx.op.id .. "." .. ctx.raise_n } or ("fuzz-error-" .. ctx.op.id .. "."
      .. ctx.raise_n)
    note_raise(ctx, e)
    error(e, 0)
  elseif w == "gc" then
    collectgarbage("collect")
  elseif w == "drop" then
    self:drop(a.slot)
    collectgarbage("collect")
  elseif w == "cross" then
    self:cross(ctx, a.slot)
  elseif w == "close_other" then
    local other = self.slots[a.slot]
    if other and other ~= rec and other.s and not other.stuck then
      other.s:close()
      other.closed = true
    end
  elseif w == "revoke" then
    self:control("revoke", { user = USER })
    ctx.revoke_fired = true
  elseif w == "yield" then
    local ok, e = pcall(coroutine.yield, "fuzz-yield")
    if not ok then
      note_raise(ctx, e)
      error(e, 0)
    end
    ctx.yielded = true
  elseif w == "grow" then
    if ctx.source_path then
      local f = io.open(ctx.source_path, a.shrink and "wb" or "ab")
      if f then
        f:write(a.shrink and "shrunk" or "grown")
        f:close()
        ctx.grow_fired = true
        ctx.grow_mid = ctx.grow_mid or info.mid
      end
    end
  end
end

-- A function to call at each callback invocation; runs cb's actions at its at-th call.
function Runner:arm(ctx, cb)
  local count = 0
  return function(info)
    count = count + 1
    if cb and count == cb.at and not ctx.disarmed then
      for _, a in ipairs(cb.actions) do
        self:do_action(ctx, a, info or {})
      end
    end
  end
end

---------------------------------------------------------------------------
-- Expected outcomes
---------------------------------------------------------------------------

-- A 401 or failed re-login is fine only for a session that cannot log in again
-- (token sessions, relogin = false, two-factor) whose token is really invalid,
-- or when the token was revoked during the call.
function Runner:auth_failure_ok(ctx, rec, d)
  if not (d.kind == "http" and d.status == 401) and d.kind ~= "login" then
    return false
  end
  if d.kind == "login" and rec.mode ~= "fails" then
    return false
  end
  if ctx.revoke_fired or ctx.logout_fired then
    return true
  end
  if rec.mode == "ok" then
    return false
  end
  return not self:token_valid(rec.tok0)
end

local function wire_method(spec)
  local m = spec.method
  if spec.kind == "redirect" then
    if spec.code == 303 and m ~= "HEAD" then
      return "GET"
    elseif (spec.code == 301 or spec.code == 302) and m == "POST" then
      return "GET"
    end
  end
  return m
end

function Runner:expect_ok(where, r)
  if r[1] == nil then
    self:violate("expect:ok", where .. ": expected success, got " .. short(tostring(r[2])) .. " "
      .. short(ser(r[3]), 200))
    return false
  end
  return true
end

function Runner:expect_fail(where, r, kind, status)
  if r[1] ~= nil then
    self:violate("expect:" .. kind, where .. ": expected kind " .. kind .. (status and (" " .. status) or "")
      .. ", got success " .. short(ser(r[1]), 200))
    return false
  end
  local d = r[3]
  if d.kind ~= kind or (status and d.status ~= status) then
    self:violate("expect:" .. kind, where .. ": expected kind " .. kind .. (status and (" " .. status) or "")
      .. ", got " .. tostring(d.kind) .. " " .. tostring(d.status) .. ": " .. short(tostring(r[2])))
    return false
  end
  return true
end

-- The number of the uploaded file a spec refers to, or a missing one.
function Runner:file_id(ref)
  local n = #self.uploaded
  if n == 0 then
    return 5, nil
  end
  local u = self.uploaded[(ref - 1) % n + 1]
  return u.id, u
end

function Runner:check_echo(where, spec, data, body_text)
  if spec.method == "HEAD" then
    if data ~= "" then
      self:violate("expect:head", where .. ": HEAD answered data " .. short(ser(data)))
    end
    return
  end
  if type(data) ~= "table" then
    return self:violate("expect:echo", where .. ": echo answered " .. short(ser(data)))
  end
  local want = wire_method(spec)
  if data.method ~= want then
    return self:violate("echo-method:" .. (spec.kind == "redirect" and "redirect" or
      (spec.body ~= nil and "with-body" or "plain")), ("%s: the portal received %s, not %s"):format(
      where, tostring(data.method), want))
  end
  local converted = spec.kind == "redirect" and want ~= spec.method
  if converted and data.body ~= "" then
    self:violate("expect:redirect-body", where .. ": the body followed a redirect that turned into GET")
  elseif not converted and type(body_text) == "string" and data.body ~= body_text then
    self:violate("expect:echo-body", where .. ": the portal received body " .. short(ser(data.body)) .. ", not "
      .. short(ser(body_text)))
  end
  if spec.kind == "echo" and spec.query and type(data.args) == "table" then
    for k, v in pairs(spec.query) do
      local got = data.args[k]
      local ok
      if type(v) == "table" then
        ok = type(got) == "table" and got[1] == v[1] and got[2] == v[2]
      else
        ok = tostring(got) == tostring(v) or (v == "" and got == true)
      end
      if not ok then
        self:violate("expect:echo-query", ("%s: query %s=%s arrived as %s"):format(where, ser(k), ser(v), ser(got)))
      end
    end
  end
  if spec.headers and type(data.headers) == "table" then
    for k, v in pairs(spec.headers) do
      if data.headers[k:lower()] ~= v then
        self:violate("expect:echo-header", ("%s: header %s arrived as %s"):format(where, k,
          ser(data.headers[k:lower()])))
      end
    end
  end
end

-- Checks one request's result against the spec; sent holds what was sent.
function Runner:expect_spec(ctx, rec, spec, r, where, sent)
  if rec.closed_before then
    self:expect_fail(where, r, "closed")
    return
  end
  local d = r[3]
  if r[1] == nil and d.kind == "closed" then
    if not ctx.close_fired then
      self:violate("expect:closed", where .. ": kind closed from a session that was not closed")
    end
    return
  end
  if ctx.close_fired then
    -- Closed from a callback once the transfer was over (a trace line): the
    -- answer stands, or the re-login it needed does not happen.
    return
  end
  local kind = spec.kind
  if spec.auth and r[1] == nil and self:auth_failure_ok(ctx, rec, d) then
    return
  end
  if kind == "echo" then
    if self:expect_ok(where, r) then
      self:check_echo(where, spec, r[1], sent.body)
    end
  elseif kind == "self" then
    if self:expect_ok(where, r) and rec.user and (type(r[1]) ~= "table" or r[1].email ~= rec.user) then
      self:violate("expect:self", where .. ": people/@self is " .. short(ser(r[1]), 200) .. ", not " .. rec.user)
    end
  elseif kind == "files" then
    if self:expect_ok(where, r) and (type(r[1]) ~= "table" or type(r[1].files) ~= "table") then
      self:violate("expect:files", where .. ": a listing without files: " .. short(ser(r[1]), 200))
    end
  elseif kind == "file" then
    if sent.known then
      if self:expect_ok(where, r) and (type(r[1]) ~= "table" or r[1].id ~= sent.id) then
        self:violate("expect:file", where .. ": file entry " .. short(ser(r[1]), 200))
      end
    else
      self:expect_fail(where, r, "http", 404)
    end
  elseif kind == "nothing" then
    self:expect_fail(where, r, "http", 404)
  elseif kind == "slow" then
    if spec.expect_timeout then
      self:expect_fail(where, r, "timeout")
    elseif self:expect_ok(where, r) and (type(r[1]) ~= "table" or r[1].slept ~= true) then
      self:violate("expect:slow", where .. ": " .. short(ser(r[1]), 200))
    end
  elseif kind == "flaky" then
    local q, m = spec.query, spec.method
    local status, times = q.status, q.times
    local succeed
    if status == 401 and ctx.revoke_fired then
      return
    elseif status == 401 then
      if rec.mode == "ok" then
        succeed = times <= 1
      elseif times >= 1 then
        succeed = false
      else
        succeed = true
      end
    elseif status == 429 or (RETRIABLE[status] and (m == "GET" or m == "HEAD")) then
      local after = tonumber(q.after)
      if after and after > rec.max_retry_wait then
        succeed = times == 0
      else
        succeed = times <= rec.retries
      end
    else
      succeed = times == 0
    end
    if succeed then
      if self:expect_ok(where, r) and m ~= "HEAD" and (type(r[1]) ~= "table" or r[1].hits ~= times + 1) then
        self:violate("expect:flaky-hits", where .. ": hits " .. short(ser(r[1]), 100) .. ", expected "
          .. (times + 1))
      end
    elseif status == 401 and rec.mode == "fails" and r[1] == nil and d.kind == "login" then
      return
    else
      self:expect_fail(where, r, status == 429 and "rate_limit" or "http", status)
    end
  elseif kind == "status" then
    if spec.code == 401 and rec.mode == "fails" and r[1] == nil and d.kind == "login" then
      return
    end
    local want = spec.code == 429 and "rate_limit" or "http"
    if self:expect_fail(where, r, want, spec.code) and not rec.short and spec.method ~= "HEAD" then
      local e = d.error
      if type(e) ~= "table" or e.message ~= "emulated failure " .. spec.code then
        self:violate("expect:error-object", where .. ": detail.error is " .. short(ser(e), 200))
      end
    end
  elseif kind == "raw" then
    local want = RAW_KINDS[spec.raw]
    if spec.raw == "deep_json" and rec.max_body < 200000 then
      want = { too_large = true }
    end
    if r[1] ~= nil then
      self:violate("expect:raw", where .. ": a hostile answer (" .. spec.raw .. ") succeeded: " .. short(ser(r[1])))
    elseif not want[d.kind] then
      self:violate("expect:raw", where .. ": hostile answer " .. spec.raw .. " gave kind " .. tostring(d.kind)
        .. ": " .. short(r[2]))
    end
  elseif kind == "redirect" then
    local to = spec.to
    if to == "echo" then
      if self:expect_ok(where, r) then
        self:check_echo(where, spec, r[1], spec.body)
      end
    elseif to == "status" then
      self:expect_fail(where, r, "http", 404)
    else
      if self:expect_fail(where, r, "redirect") and to == "other" and not rec.short
        and type(d.location) ~= "string" then
        self:violate("expect:location", where .. ": a refused redirect without detail.location")
      end
    end
  elseif kind == "leak" then
    self:expect_fail(where, r, "http", 400)
  end
end

-- What to send for a spec: the request table pieces, built now (the leak body
-- holds this session's secrets).
function Runner:prepare(rec, spec)
  local sent = { method = spec.method, path = spec.path, query = spec.query, headers = spec.headers,
    timeout = spec.timeout, body = spec.body }
  if spec.kind == "file" then
    local id, u = self:file_id(spec.ref)
    sent.path, sent.id, sent.known = "files/file/" .. id, id, u ~= nil
  elseif spec.kind == "redirect" then
    local to
    if spec.to == "echo" then
      to = "/api/2.0/emu/echo"
    elseif spec.to == "other" then
      to = self.env.other_origin(rec.flavor) .. "/api/2.0/emu/echo"
    elseif spec.to == "ftp" then
      to = "ftp://127.0.0.1/x"
    elseif spec.to == "status" then
      to = "/api/2.0/emu/status?code=404"
    end
    sent.query = to and { to = to, code = spec.code } or { loop = 1, code = spec.code }
  elseif spec.kind == "leak" then
    local parts = { "leak:" }
    for _, l in ipairs(spec.leak) do
      local secret = l.secret == "password" and rec.password or rec.s:token()
      if secret then
        for _, f in ipairs(forms_of(secret)) do
          if f.form == l.form then
            parts[#parts + 1] = f.text
          end
        end
      end
    end
    sent.body = table.concat(parts, " ")
  end
  return sent
end

---------------------------------------------------------------------------
-- Running one operation
---------------------------------------------------------------------------

local last_traceback
local function handler(e)
  last_traceback = debug.traceback(tostring(e), 2)
  return e
end

-- Runs fn (in a coroutine when asked); returns { ok =, values | err =, abandoned = }.
local function run_call(fn, in_co, abandon)
  if not in_co then
    local r = pack(xpcall(fn, handler))
    if r[1] then
      return { ok = true, values = pack(unpack(r, 2, r.n)) }
    end
    return { ok = false, err = r[2], tb = last_traceback }
  end
  local co = coroutine.create(function()
    return pack(xpcall(fn, handler))
  end)
  local res = pack(coroutine.resume(co))
  local yields = 0
  while coroutine.status(co) == "suspended" do
    yields = yields + 1
    if abandon or yields > 100 then
      return { abandoned = true }
    end
    res = pack(coroutine.resume(co, "resumed"))
  end
  if not res[1] then
    return { ok = false, err = res[2], tb = "(the coroutine itself failed)" }
  end
  local r = res[2]
  if r[1] then
    return { ok = true, values = pack(unpack(r, 2, r.n)) }
  end
  return { ok = false, err = r[2], tb = last_traceback }
end

-- What every call with callbacks must do: raise exactly what a callback
-- raised, not raise otherwise, and leave the session closed when a callback
-- closed it or logged it out.
function Runner:after_call(ctx, res, where)
  local rec = ctx.rec
  self:count(res.abandoned and "abandoned" or res.ok and "returned" or "raised")
  if res.abandoned then
    -- The session is inside a call that will never return: no model of it is
    -- kept; it is dropped (its __gc runs while it is busy).
    rec.stuck = true
    self:drop(ctx.op.slot)
    return false
  end
  if ctx.raised then
    if res.ok then
      self:violate("raise:missing", where .. ": a callback raised " .. short(tostring(ctx.first_raise))
        .. " but the call returned " .. short(ser(res.values)))
    elseif res.err ~= ctx.first_raise then
      self:violate("raise:wrong", where .. ": a callback raised " .. short(ser(ctx.first_raise))
        .. " but the call raised " .. short(ser(res.err)))
    end
  elseif not res.ok and not ctx.expect_raise then
    self:violate("raise:unexpected", where .. ": raised " .. short(ser(res.err), 400) .. "\n" .. tostring(res.tb))
  end
  if not res.ok then
    self:walk(res.err, where .. " raised error", rec)
  end
  if ctx.close_fired then
    rec.closed = true
  end
  for _, c in ipairs(ctx.cross or {}) do
    local crec, r = c.rec, c.r
    self:check_shape(r, where .. " cross call on s" .. crec.slot, crec)
    if c.closed then
      self:expect_fail(where .. " cross call", r, "closed")
    elseif r[1] == nil and not ctx.revoke_fired and not (crec.mode ~= "ok"
      and (r[3].kind == "login" or r[3].status == 401) and not self:token_valid(c.tok)) then
      self:violate("cross", where .. ": a call on s" .. crec.slot .. " from a callback of s" .. rec.slot
        .. " failed: " .. short(r[2]))
    end
  end
  if ctx.logout_fired and ctx.logout_token and rec.flavor ~= "workspace" and self:token_valid(ctx.logout_token) then
    self:violate("logout:token", where .. ": the token is still valid after s:logout() in a callback")
  end
  return res.ok
end

function Runner:begin(op)
  local rec = self.slots[op.slot]
  if not rec or rec.stuck or not rec.s then
    return nil
  end
  local ctx = { op = op, rec = rec }
  self.ctx = ctx
  rec.closed_before = rec.closed
  rec.tok0 = rec.s:token() or rec.tok0
  return ctx, rec
end

function Runner:arm_trace(ctx, rec, cb)
  if cb then
    local fire = self:arm(ctx, cb)
    rec.trace_hook = function()
      fire({})
    end
  end
end

local OPS = {}

function OPS.login(self, op)
  self.ctx = { op = op }
  local u = USERS[op.user]
  local rec = { slot = op.slot, flavor = op.flavor, user = u[1], mode = u.mode, relogin = op.opts.relogin,
    retries = op.opts.retries, max_retry_wait = op.opts.max_retry_wait, max_body = op.opts.max_body }
  if op.opts.relogin == false then
    rec.mode = "none"
  elseif u.mode == "ok" then
    rec.password = u[2]
  end
  local opts = self:session_opts(op.opts, rec)
  opts.code = u.code
  local url = self:url(op.flavor)
  local r
  local res = run_call(function()
    if op.named then
      local t = { url = url, username = u[1], password = u[2] }
      for k, v in pairs(opts) do
        t[k] = v
      end
      return onlyoffice.login(t)
    end
    return onlyoffice.login(url, u[1], u[2], opts)
  end)
  if not res.ok then
    return self:violate("raise:unexpected", "login raised " .. short(ser(res.err)) .. "\n" .. tostring(res.tb))
  end
  r = res.values
  if r[1] == nil then
    self:check_shape(r, "login as " .. u[1], rec)
  elseif r.n > 1 then
    self:violate("shape", "login returned more than the session: " .. ser(r))
  end
  if u.fail then
    if r[1] ~= nil then
      return self:violate("expect:login", "login as " .. u[1] .. " succeeded")
    end
    local d = r[3]
    if type(d) ~= "table" or d.kind ~= "login" or (u.fail == "tfa" and d.tfa ~= true)
      or (u.fail == "sms" and d.sms ~= true) then
      self:violate("expect:login", "login as " .. u[1] .. " failed with " .. short(r[2]) .. " " .. short(ser(d)))
    end
    return
  end
  if r[1] == nil then
    return self:violate("expect:login", "login as " .. u[1] .. " failed: " .. short(tostring(r[2])))
  end
  rec.s = r[1]
  rec.tok0 = rec.s:token()
  self:drop(op.slot)
  self.slots[op.slot] = rec
  self:settle(rec, "login")
end

function OPS.session(self, op)
  self.ctx = { op = op }
  local token, from
  if op.from == "slot" then
    from = self.slots[op.from_slot]
    token = from and not from.stuck and from.s and from.s:token()
  elseif op.from == "short" then
    token = "abc" .. op.id % 10
  end
  op.note = nil
  if not token then
    token = "fuzz-bogus-token-" .. op.id
    if op.from == "slot" then
      op.note = "s" .. op.from_slot .. " has no token: a made-up one"
    end
  end
  local rec = { slot = op.slot, flavor = op.flavor, mode = "none", user = from and from.user,
    short = #token < 8, retries = op.opts.retries, max_retry_wait = op.opts.max_retry_wait,
    max_body = op.opts.max_body }
  self:add_secret(token, "token of s" .. op.slot)
  local res = run_call(function()
    return onlyoffice.session(self:url(op.flavor), token, self:session_opts(op.opts, rec))
  end)
  if not res.ok then
    return self:violate("raise:unexpected", "session raised " .. short(ser(res.err)) .. "\n" .. tostring(res.tb))
  end
  rec.s = res.values[1]
  rec.tok0 = token
  if rec.s:token() ~= token then
    self:violate("session:token", "s:token() is not the token given")
  end
  self:drop(op.slot)
  self.slots[op.slot] = rec
end

local function call_spec(s, sent, form)
  local m = sent.method
  if form == "short" and not sent.headers and not sent.timeout then
    if (m == "GET" or m == "DELETE") and sent.body == nil then
      return s[m:lower()](s, sent.path, sent.query)
    elseif m == "POST" or m == "PUT" then
      return s[m:lower()](s, sent.path, sent.body, sent.query)
    end
  end
  return s:request(m, sent.path, { query = sent.query, body = sent.body, headers = sent.headers,
    timeout = sent.timeout })
end

function OPS.request(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local spec = op.spec
  local sent = self:prepare(rec, spec)
  if type(sent.body) == "table" then
    sent.body = cjson.decode(cjson.encode(sent.body))
  end
  self:arm_trace(ctx, rec, op.trace_cb)
  local res = run_call(function()
    return call_spec(rec.s, sent, op.form)
  end, op.co, op.abandon)
  rec.trace_hook = nil
  local where = "[" .. op.id .. "] " .. spec.method .. " " .. sent.path
  if self:after_call(ctx, res, where) then
    local r = res.values
    self:check_shape(r, where, rec)
    if r[1] == nil and r.n ~= 3 or r[1] ~= nil and (r.n < 2 or r[3] ~= nil) then
      self:violate("shape:count", where .. ": " .. r.n .. " values returned")
    end
    if not ctx.violation then
      self:expect_spec(ctx, rec, spec, r, where, sent)
    end
  end
  self:settle(rec, where)
end

function OPS.batch(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local list, sents = {}, {}
  for i, spec in ipairs(op.items) do
    local sent = self:prepare(rec, spec)
    sents[i] = sent
    local item
    if spec.named then
      item = { method = sent.method, path = sent.path }
    else
      item = { sent.method, sent.path }
    end
    item.query, item.body, item.headers, item.timeout = sent.query, sent.body, sent.headers, sent.timeout
    list[i] = item
  end
  local logins0 = rec.mode == "ok" and rec.user and self:control("stats").logins[rec.user]
  self:arm_trace(ctx, rec, op.trace_cb)
  local res = run_call(function()
    if op.concurrency == "default" then
      return rec.s:batch(list)
    end
    return rec.s:batch(list, { concurrency = op.concurrency })
  end, op.co, op.abandon)
  rec.trace_hook = nil
  local where = "[" .. op.id .. "] batch"
  if logins0 and not ctx.cross and not ctx.logout_fired and not res.abandoned then
    local delta = self:control("stats").logins[rec.user] - logins0
    if delta > 1 then
      self:violate("relogin:count", where .. ": " .. delta .. " logins during one batch (one re-login per batch)")
    end
  end
  if self:after_call(ctx, res, where) then
    local results = res.values[1]
    if type(results) ~= "table" or results.n ~= #list then
      self:violate("shape:batch", where .. ": results.n is " .. ser(type(results) == "table" and results.n or results)
        .. " for " .. #list .. " requests")
    else
      for i = 1, #list do
        local r = results[i]
        local w = where .. " item " .. i .. " (" .. op.items[i].method .. " " .. sents[i].path .. ")"
        if type(r) ~= "table" or r.ok ~= (r[1] ~= nil) or r.n ~= (r.ok and 2 or 3) then
          self:violate("shape:batch", w .. ": result " .. short(ser(r)))
        else
          self:check_shape(r, w, rec)
          if not ctx.violation then
            self:expect_spec(ctx, rec, op.items[i], r, w, sents[i])
          end
        end
        if ctx.violation then
          break
        end
      end
    end
  end
  self:settle(rec, where)
end

-- Progress checks: never backwards, integers, and (on success) ending with done == total.
local function progress_recorder(self, fire, label)
  local p = { calls = 0 }
  p.fn = function(done, total)
    p.calls = p.calls + 1
    if not is_int(done) or (total ~= nil and not is_int(total)) then
      self:violate("progress:type", label .. " progress(" .. ser(done) .. ", " .. ser(total) .. ")")
    elseif p.last and done < p.last then
      self:violate("progress:backwards", label .. " progress went from " .. p.last .. " to " .. done)
    end
    p.last, p.total = done, total
    fire({ mid = total ~= nil and done < total })
  end
  function p.check_end(where, want)
    if p.last ~= want or p.total ~= want then
      self:violate("progress:end", ("%s: progress ended at (%s, %s), not (%d, %d)"):format(where, ser(p.last),
        ser(p.total), want, want))
    end
  end
  return p
end

function OPS.upload(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local content = content_of(op.seed, op.size)
  local name = (op.failchunk and "fuzz-failchunk-" or "fuzz-") .. op.id .. ".bin"
  local source
  if op.src == "data" then
    source = { data = content }
  elseif op.src == "reader" then
    local pieces = pieces_of(op.seed, content)
    if op.variant == "short" then
      pieces = pieces_of(op.seed, content:sub(1, op.size - 1))
    elseif op.variant == "long" then
      pieces[#pieces + 1] = "EXTRA"
    end
    local i, given = 0, 0
    local fire = self:arm(ctx, op.reader_cb)
    source = { size = op.size, reader = function()
      fire({ mid = given < op.size })
      i = i + 1
      given = given + #(pieces[i] or "")
      if op.variant == "error" and i > math.floor(#pieces / 2) or op.variant == "error_at_end" and i > #pieces then
        return nil, "fuzz-reader-failed"
      end
      return pieces[i]
    end }
  elseif op.src == "path" then
    local path = self.env.tmp .. "/src-" .. op.id
    control.write_file(path, content)
    ctx.source_path = path
    source = path
  elseif op.src == "missing" then
    source = self.env.tmp .. "/no-such-file-" .. op.id
  else
    source = self.env.tmp
  end
  local p = progress_recorder(self, self:arm(ctx, op.progress_cb), "[" .. op.id .. "] upload")
  local uopts = { name = name, chunked = op.chunked or nil, chunk_size = op.chunk_size,
    progress = op.progress and p.fn or nil }
  self:arm_trace(ctx, rec, op.trace_cb)
  local res = run_call(function()
    return rec.s:upload(op.folder, source, uopts)
  end, op.co, op.abandon)
  rec.trace_hook = nil
  local where = "[" .. op.id .. "] upload"
  if self:after_call(ctx, res, where) then
    local r = res.values
    self:check_shape(r, where, rec, true)
    if ctx.violation then
      return self:settle(rec, where)
    end
    local d = r[3]
    local chunks = op.size == 0 and 1 or math.ceil(op.size / (op.chunk_size or 10485760))
    local chunked = op.chunked or op.size > (op.chunk_size or 10485760)
    if op.src == "missing" or op.src == "dir" then
      if not (r[1] == nil and (d.kind == "source" or rec.closed_before and d.kind == "closed")) then
        self:violate("expect:source", where .. ": a " .. op.src .. " path gave " .. short(ser(r)))
      end
    elseif rec.closed_before then
      self:expect_fail(where, r, "closed")
    elseif r[1] == nil and d.kind == "closed" then
      if not ctx.close_fired then
        self:violate("expect:closed", where .. ": kind closed from a session that was not closed")
      end
    elseif ctx.close_fired and ctx.close_mid and not (r[1] == nil and d.kind == "source"
      and op.src == "reader" and op.variant ~= "exact") then
      self:violate("close:mid-transfer", where .. ": closed in a callback mid-transfer, but the upload gave "
        .. short(ser(r)))
    elseif ctx.close_fired then
      return self:settle(rec, where)
    elseif r[1] == nil and self:auth_failure_ok(ctx, rec, d) then
      return self:settle(rec, where)
    elseif r[1] == nil and d.kind == "http" and d.status == 401 and op.src == "reader" and not chunked
      and not self:token_valid(rec.tok0) then
      return self:settle(rec, where) -- a reader cannot be sent again after a re-login
    elseif op.src == "reader" and op.variant ~= "exact" then
      if r[1] ~= nil then
        local sig = "reader:" .. op.variant .. (chunked and ":chunked" or ":single")
          .. (op.size == 0 and ":empty" or "")
        self:violate(sig, where .. ": a reader that " .. (op.variant == "error" and "failed (nil, err) halfway"
          or op.variant == "error_at_end" and "failed (nil, err) after size bytes"
          or op.variant == "long" and "gave more than size bytes" or "gave fewer than size bytes")
          .. " was uploaded: " .. short(ser(r[1]), 120))
      elseif op.failchunk and chunked and chunks >= 2 and d.kind == "http" and d.chunk == 2 then
        return self:settle(rec, where) -- the portal refused chunk 2 before the reader went wrong
      elseif self:expect_fail(where, r, "source") and op.variant:find("^error")
        and not r[2]:find("fuzz-reader-failed", 1, true) then
        self:violate("expect:source-message", where .. ": the reader's message is lost: " .. r[2])
      end
    elseif ctx.grow_fired then
      if ctx.grow_mid then
        self:expect_fail(where, r, "source")
      end
    elseif op.failchunk and chunked and chunks >= 2 then
      if self:expect_fail(where, r, "http") and d.chunk ~= 2 then
        self:violate("expect:chunk", where .. ": failchunk reported chunk " .. ser(d.chunk))
      end
    elseif self:expect_ok(where, r) then
      local e = r[1]
      if type(e) ~= "table" or not is_int(e.id) or e.title ~= name or e.pureContentLength ~= op.size then
        self:violate("expect:entry", where .. ": entry " .. short(ser(e)))
      else
        self.uploaded[#self.uploaded + 1] = { id = e.id, content = content }
        if op.progress then
          p.check_end(where, op.size)
        end
      end
    end
  end
  self:settle(rec, where)
end

local function file_mode(path)
  return control.sh("stat -c %a '" .. path .. "' 2>/dev/null"):match("%d+")
end

function OPS.download(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local id, u, expect
  op.note = nil
  if op.file == "uploaded" then
    id, u = self:file_id(op.ref)
    op.note = u and ("file " .. id) or "nothing uploaded yet: file 5"
    expect = u and { content = u.content } or { kind = "http", status = 404, before = true }
  elseif op.file == "elsewhere" and rec.flavor == "https" then
    id, expect = ELSEWHERE_ID, { kind = "redirect" } -- https to http is never followed
  elseif op.file == "big" or op.file == "elsewhere" then
    id = op.file == "big" and BIG_ID or ELSEWHERE_ID
    expect = { content = self.env.big }
  elseif op.file == "broken" then
    id, expect = BROKEN_ID, { kind = "network" }
  elseif op.file == "portal" then
    id, expect = 100001 + op.ref, { kind = "http", status = 404 }
  else
    id, expect = 5, { kind = "http", status = 404, before = true }
  end
  local target, path
  local sink = { chunks = {}, bytes = 0, ends = {} }
  if op.target == "sink" then
    local fire = self:arm(ctx, op.sink_cb)
    local fire_end = self:arm(ctx, op.sink_end_cb)
    local total = expect.content and #expect.content
    target = function(chunk, err)
      if chunk == nil then
        sink.ends[#sink.ends + 1] = { err = err }
        fire_end({})
        return 1
      end
      if #sink.ends > 0 then
        self:violate("sink:after-end", "[" .. op.id .. "] the sink got data after its end call")
      end
      sink.chunks[#sink.chunks + 1] = chunk
      sink.bytes = sink.bytes + #chunk
      local st = op.sink_stop
      if st and #sink.chunks == st.at then
        ctx.sink_stopped = true
        if st.how == "false" then
          return false
        end
        return nil, "fuzz-sink-stop"
      end
      fire({ mid = total ~= nil and sink.bytes < total })
      return 1
    end
  else
    path = op.target == "baddir" and (self.env.tmp .. "/no-dir/dl-" .. op.id) or (self.env.tmp .. "/dl-" .. op.id)
    if op.target == "isdir" then
      control.sh("mkdir -p '" .. path .. "'")
    elseif op.target == "replace" then
      control.write_file(path, "old content " .. op.id)
      control.sh("chmod 600 '" .. path .. "'")
    end
    target = path
  end
  local p = progress_recorder(self, self:arm(ctx, op.progress_cb), "[" .. op.id .. "] download")
  local dopts = { durable = op.durable or nil, progress = op.progress and p.fn or nil }
  self:arm_trace(ctx, rec, op.trace_cb)
  local res = run_call(function()
    return rec.s:download(id, target, dopts)
  end, op.co, op.abandon)
  rec.trace_hook = nil
  local where = "[" .. op.id .. "] download " .. id
  if self:after_call(ctx, res, where) then
    local r = res.values
    self:check_shape(r, where, rec, true)
    local d = r[3]
    local lenient = false
    if ctx.violation then
      return self:settle(rec, where)
    elseif rec.closed_before then
      self:expect_fail(where, r, "closed")
    elseif r[1] == nil and d.kind == "closed" then
      if not ctx.close_fired then
        self:violate("expect:closed", where .. ": kind closed from a session that was not closed")
      end
    elseif ctx.close_fired and ctx.close_mid then
      self:violate("close:mid-transfer", where .. ": closed in a callback mid-transfer, but the download gave "
        .. short(ser(r)))
    elseif ctx.close_fired then
      lenient = true
    elseif r[1] == nil and self:auth_failure_ok(ctx, rec, d) then
      lenient = true
    elseif op.target == "baddir" and not expect.before then
      self:expect_fail(where, r, "io")
    elseif op.target == "isdir" and expect.content then
      self:expect_fail(where, r, "io")
    elseif ctx.sink_stopped then
      self:expect_fail(where, r, "sink")
    elseif expect.kind then
      self:expect_fail(where, r, expect.kind, expect.status)
    elseif self:expect_ok(where, r) then
      if r[1] ~= #expect.content then
        self:violate("download:bytes", where .. ": returned " .. ser(r[1]) .. " bytes, not " .. #expect.content)
      elseif op.target == "sink" and table.concat(sink.chunks) ~= expect.content then
        self:violate("download:content", where .. ": the sink got other bytes")
      elseif path and control.read_file(path) ~= expect.content then
        self:violate("download:content", where .. ": the file holds other bytes")
      elseif op.target == "replace" and file_mode(path) ~= "600" then
        self:violate("download:mode", where .. ": a replaced file's mode is now " .. tostring(file_mode(path)))
      end
      if op.progress then
        p.check_end(where, #expect.content)
      end
    end
    if op.target == "sink" then
      if r[1] ~= nil and not (#sink.ends == 1 and sink.ends[1].err == nil) and not lenient then
        self:violate("sink:end", where .. ": after a success the sink's end calls were " .. ser(sink.ends))
      elseif r[1] == nil and not rec.closed_before and not lenient and not (#sink.ends == 1
        and type(sink.ends[1].err) == "string") then
        self:violate("sink:end-failure" .. (#sink.chunks == 0 and ":before-data" or ""), where
          .. ": after a failure (" .. short(r[2], 120) .. ") the sink's end calls were " .. ser(sink.ends))
      end
    end
    if path and r[1] == nil then
      local now_content = control.read_file(path)
      if op.target == "replace" and now_content ~= "old content " .. op.id then
        self:violate("download:clobbered", where .. ": a failed download changed the existing file")
      elseif (op.target == "path" or op.target == "baddir") and now_content ~= nil then
        self:violate("download:partial", where .. ": a failed download left a file")
      end
    end
  end
  if path then
    for n = 0, 3 do
      local part = path .. "." .. self.pid .. "-" .. n .. ".part"
      if control.read_file(part) then
        self:violate("download:part-left", where .. ": " .. part .. " was left behind")
        os.remove(part)
      end
    end
  end
  self:settle(rec, where)
end

local TOTALS = { people = 150, ["files/@my"] = 237, ["files/1001"] = 237 }

function OPS.pages(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local query, popts = nil, nil
  if op.count_in == "option" then
    popts = { count = op.count }
  elseif op.count_in == "query" then
    query = { count = op.count }
  else
    query = { count = tostring(op.count) }
  end
  local items, ids = 0, {}
  local closed_in_body = false
  self:arm_trace(ctx, rec, op.trace_cb)
  local res = run_call(function()
    for item, index in rec.s:pages(op.path, query, popts) do
      items = items + 1
      if index ~= items then
        self:violate("pages:index", "[" .. op.id .. "] pages index " .. ser(index) .. " at item " .. items)
      end
      if type(item) == "table" and item.id ~= nil then
        local key = tostring(item.id)
        if ids[key] then
          self:violate("pages:repeat", "[" .. op.id .. "] item " .. key .. " came twice")
        end
        ids[key] = true
      end
      if op.body and items == op.body.at then
        local w = op.body.what
        if w == "get" then
          local r = pack(rec.s:get("emu/status", { code = 404 }))
          self:check_shape(r, "[" .. op.id .. "] get inside a pages loop", rec)
          if not (r[1] == nil and (r[3].kind == "http" or r[3].kind == "closed" and (rec.closed_before
            or ctx.close_fired))) then
            self:violate("pages:get", "[" .. op.id .. "] a get inside the pages loop gave " .. short(ser(r)))
          end
        elseif w == "close" then
          rec.s:close()
          rec.closed, closed_in_body = true, true
        elseif w == "revoke" then
          self:control("revoke", { user = USER })
          ctx.revoke_fired = true
        elseif w == "gc" then
          collectgarbage("collect")
        elseif w == "drop_self" then
          self:drop(op.slot)
          collectgarbage("collect")
        end
      end
      if op.stop_after and items >= op.stop_after then
        break
      end
    end
  end, op.co, op.abandon)
  rec.trace_hook = nil
  local where = "[" .. op.id .. "] pages " .. op.path
  ctx.expect_raise = true -- judged below
  closed_in_body = closed_in_body or ctx.close_fired
  local ok = self:after_call(ctx, res, where)
  if res.abandoned or ctx.raised or ctx.violation then
    return self:settle(rec, where)
  end
  local total = TOTALS[op.path]
  local complete = not op.stop_after or op.stop_after >= total
  if rec.closed_before then
    if ok then
      self:violate("pages:closed", where .. ": a closed session's pages did not raise")
    elseif not tostring(res.err):find("session is closed", 1, true) then
      self:violate("pages:closed", where .. ": raised " .. short(tostring(res.err)))
    end
  elseif not ok then
    local msg = tostring(res.err)
    if closed_in_body and msg:find("session is closed", 1, true) or ctx.close_fired then
      return self:settle(rec, where) -- closed from a trace line: the page's answer, or "closed"
    end
    if (msg:find("HTTP 401", 1, true) or msg:find("login failed", 1, true) or msg:find("two-factor", 1, true))
      and (ctx.revoke_fired or rec.mode ~= "ok" and not self:token_valid(rec.tok0)) then
      return self:settle(rec, where)
    end
    self:violate("pages:raise", where .. ": raised " .. short(msg))
  elseif closed_in_body then
    if items < total and (not op.stop_after or items < op.stop_after) then
      self:violate("pages:closed", where .. ": the loop ended quietly after the session closed at item " .. items)
    end
  elseif complete and items ~= total then
    self:violate("pages:count", where .. ": " .. items .. " items, not " .. total)
  elseif not complete and items ~= math.min(op.stop_after, total) then
    self:violate("pages:count", where .. ": " .. items .. " items before the break at " .. op.stop_after)
  end
  self:settle(rec, where)
end

function OPS.revoke(self, op)
  self.ctx = { op = op }
  self:control("revoke", { user = op.user })
end

function OPS.close(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local res = run_call(function()
    rec.s:close()
    if op.twice then
      rec.s:close()
    end
  end)
  if not res.ok then
    self:violate("raise:unexpected", "close raised " .. tostring(res.err))
  end
  rec.closed = true
  self:settle(rec, "[" .. op.id .. "] close")
end

function OPS.drop(self, op)
  self.ctx = { op = op }
  self:drop(op.slot)
  if op.gc then
    collectgarbage("collect")
  end
end

function OPS.gc(self, op)
  self.ctx = { op = op }
  collectgarbage("collect")
end

function OPS.logout(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local tok = rec.s:token()
  local res = run_call(function()
    return rec.s:logout()
  end)
  local where = "[" .. op.id .. "] logout"
  if not res.ok then
    self:violate("raise:unexpected", where .. " raised " .. short(ser(res.err)))
  else
    local r = res.values
    if r[1] ~= true then
      self:check_shape(r, where, rec)
    end
    if rec.closed_before then
      self:expect_fail(where, r, "closed")
    elseif rec.flavor == "workspace" then
      self:expect_fail(where, r, "http", 404)
    elseif r[1] ~= true then
      self:violate("expect:logout", where .. ": " .. short(ser(r)))
    elseif self:token_valid(tok) then
      self:violate("logout:token", where .. ": the token is still valid after logout")
    end
  end
  rec.closed = true
  self:settle(rec, where)
end

function OPS.health(self, op)
  self.ctx = { op = op }
  for slot = 1, NSLOTS do
    local rec = self.slots[slot]
    if rec and rec.s and not rec.stuck then
      local where = "[" .. op.id .. "] health s" .. slot
      self.ctx = { op = op, rec = rec }
      rec.closed_before = rec.closed
      rec.tok0 = rec.s:token() or rec.tok0
      local res = run_call(function()
        return rec.s:get("people/@self")
      end)
      if not res.ok then
        self:violate("raise:unexpected", where .. ": s:get raised " .. short(ser(res.err)) .. "\n" .. res.tb)
      else
        local r = res.values
        self:check_shape(r, where, rec)
        if not self.ctx.violation then
          self:expect_spec(self.ctx, rec, { kind = "self", auth = true }, r, where, {})
        end
      end
      if tostring(rec.s) ~= (rec.closed and "onlyoffice.session (closed)" or ("onlyoffice.session ("
        .. self:url(rec.flavor) .. ")")) then
        self:violate("session:tostring", where .. ": tostring is " .. tostring(rec.s))
      end
      self:settle(rec, where)
      if self.ctx.violation then
        return
      end
    end
  end
  self.ctx = { op = op }
  if self:control("stats").public_saw_credentials then
    self:violate("download:credentials", "the other origin received credentials on a download redirect")
  end
end

local BADARGS = {
  method = function(s) return s:request("OPTIONS", "emu/echo") end,
  get_body = function(s) return s:request("GET", "emu/echo", { body = "x" }) end,
  head_body = function(s) return s:batch({ { "HEAD", "emu/echo", body = { a = 1 } } }) end,
  request_key = function(s) return s:request("GET", "emu/echo", { bogus = 1 }) end,
  batch_key = function(s) return s:batch({ { "GET", "emu/echo", nope = 1 } }) end,
  concurrency = function(s) return s:batch({ { "GET", "emu/echo" } }, { concurrency = 51 }) end,
  upload_name = function(s) return s:upload(1001, { data = "x" }) end,
  path_newline = function(s) return s:get("emu/echo\nX-Evil: 1") end,
  header_auth = function(s) return s:request("GET", "emu/echo", { headers = { Authorization = "x" } }) end,
  query_value = function(s) return s:get("emu/echo", { a = function() end }) end,
  chunk_size = function(s) return s:upload(1001, { data = "x" }, { name = "x", chunk_size = 0 }) end,
}

function OPS.badarg(self, op)
  local ctx, rec = self:begin(op)
  if not ctx then
    return
  end
  local res = run_call(function()
    return BADARGS[op.what](rec.s)
  end)
  local where = "[" .. op.id .. "] bad argument " .. op.what
  if res.ok then
    self:violate("badarg:no-raise", where .. " did not raise: " .. short(ser(res.values)))
  elseif tostring(res.err):find("session is in use", 1, true) then
    self:violate("badarg:busy", where .. " raised " .. tostring(res.err))
  end
  if not rec.closed then
    local r = pack(pcall(rec.s.token, rec.s))
    local ok2, err2 = pcall(rec.s.get, rec.s, "emu/status", { code = 404 })
    if not r[1] or (not ok2 and tostring(err2):find("session is in use", 1, true)) then
      self:violate("badarg:busy", where .. ": the session is stuck afterwards: " .. tostring(err2))
    end
  end
  self:settle(rec, where)
end

-- Runs one operation; returns the first violation or nil.
function Runner:exec(op)
  self.ctx = nil
  local ok, err = xpcall(function()
    OPS[op.t](self, op)
  end, handler)
  local v = self.ctx and self.ctx.violation or self.pending
  self.pending = nil
  if not ok then
    return { sig = "driver", msg = "the driver itself failed in [" .. op.id .. "]: " .. tostring(err) .. "\n"
      .. tostring(last_traceback) }
  end
  if v then
    v.id = op.id
  end
  return v
end

---------------------------------------------------------------------------
-- Sequences, shrinking, the run
---------------------------------------------------------------------------

local function log_line(opts, text)
  if opts.log_file then
    opts.log_file:write(text, "\n")
    opts.log_file:flush()
  end
  if opts.verbose then
    io.stdout:write(text, "\n")
    io.stdout:flush()
  end
end

-- Runs ops from next_op() on fresh state; returns the violation (with the
-- index of the failing op) or nil, and the number of ops run.
local function run_sequence(R, next_op, opts, prefix)
  R:reset()
  local i = 0
  while true do
    local op = next_op(i + 1)
    if not op then
      break
    end
    i = i + 1
    log_line(opts, (prefix or "") .. describe(op))
    R:count("op " .. op.t)
    local v = R:exec(op)
    if v then
      v.index = i
      -- A last look at every session, so a failure reads against the same end state.
      return v, i
    end
  end
  local final = R:exec({ t = "health", id = "end", slot = 1 })
  if final then
    final.index = i + 1
    return final, i
  end
  return nil, i
end

local function list_runner(list)
  return function(i)
    return list[i]
  end
end

local function without(list, from, to)
  local out = {}
  for i, v in ipairs(list) do
    if i < from or i > to then
      out[#out + 1] = v
    end
  end
  return out
end

local function copy_op(op)
  local c = {}
  for k, v in pairs(op) do
    c[k] = v
  end
  return c
end

-- Delta debugging: the smallest list (by complements, then single removals)
-- for which fails(list) holds, within the budget.
local function ddmin(list, fails, budget)
  local n = 2
  while #list >= 2 and not budget.out() do
    local size = math.ceil(#list / n)
    local reduced = false
    for i = 1, n do
      local from = (i - 1) * size + 1
      if from > #list then
        break
      end
      local candidate = without(list, from, from + size - 1)
      if #candidate > 0 and fails(candidate) then
        list, n, reduced = candidate, math.max(n - 1, 2), true
        break
      end
      if budget.out() then
        return list
      end
    end
    if not reduced then
      if n >= #list then
        break
      end
      n = math.min(n * 2, #list)
    end
  end
  local i = 1
  while i <= #list and #list > 1 and not budget.out() do
    local candidate = without(list, i, i)
    if fails(candidate) then
      list = candidate
    else
      i = i + 1
    end
  end
  return list
end

local function shrink(R, ops, violation, opts)
  local deadline = now() + (opts.shrink_seconds or 120)
  local runs = 0
  local budget = {
    out = function()
      return now() > deadline or runs >= (opts.shrink_runs or 400)
    end,
  }
  local function fails(list)
    runs = runs + 1
    local v = run_sequence(R, list_runner(list), { log_file = opts.log_file }, "  replay: ")
    return v ~= nil and v.sig == violation.sig, v
  end
  local list = {}
  for i = 1, math.min(violation.index, #ops) do
    list[i] = ops[i]
  end
  local reproduced, v = fails(list)
  if not reproduced then
    return nil, runs, v
  end
  list = ddmin(list, fails, budget)
  -- Then the batches inside: fewer requests in each.
  for k = 1, #list do
    if budget.out() then
      break
    end
    if list[k].t == "batch" and #list[k].items > 1 then
      local items = ddmin(list[k].items, function(sub)
        local candidate = {}
        for j, op in ipairs(list) do
          candidate[j] = op
        end
        candidate[k] = copy_op(list[k])
        candidate[k].items = sub
        return fails(candidate)
      end, budget)
      list[k] = copy_op(list[k])
      list[k].items = items
    end
  end
  -- And what each operation carries that the failure may not need.
  local OPTIONAL = { "trace_cb", "progress_cb", "sink_cb", "sink_end_cb", "reader_cb", "sink_stop", "co", "body",
    "stop_after", "durable" }
  for k = 1, #list do
    for _, field in ipairs(OPTIONAL) do
      if budget.out() then
        break
      end
      if list[k][field] ~= nil then
        local candidate = {}
        for j, op in ipairs(list) do
          candidate[j] = op
        end
        candidate[k] = copy_op(list[k])
        candidate[k][field] = nil
        if field == "co" then
          candidate[k].abandon = nil
        end
        if fails(candidate) then
          list = candidate
        end
      end
    end
  end
  for k = 1, #list do
    for _, field in ipairs({ "trace_cb", "progress_cb", "sink_cb", "sink_end_cb", "reader_cb" }) do
      local cb = list[k][field]
      local i = 1
      while cb and #cb.actions > 1 and i <= #cb.actions and not budget.out() do
        local candidate = {}
        for j, op in ipairs(list) do
          candidate[j] = op
        end
        candidate[k] = copy_op(list[k])
        candidate[k][field] = { at = cb.at, actions = without(cb.actions, i, i) }
        if fails(candidate) then
          list, cb = candidate, candidate[k][field]
        else
          i = i + 1
        end
      end
    end
  end
  local _, final = fails(list)
  return list, runs, final
end

local function report_of(seed, violation, list, runs, final, steps, shrunk)
  local lines = {
    ("seed %s: invariant %q failed at operation %d of %d"):format(seed, violation.sig, violation.index, steps),
    "  " .. violation.msg:gsub("\n", "\n  "),
  }
  if list then
    lines[#lines + 1] = ("shortest failing sequence (%d operations, %d replays; fresh emulator, slots s1..s%d):")
      :format(#list, runs, NSLOTS)
    for _, op in ipairs(list) do
      lines[#lines + 1] = "  " .. describe(op)
    end
    if final then
      lines[#lines + 1] = "  -- fails with: " .. final.msg:gsub("\n.*", "")
    end
  elseif shrunk then
    lines[#lines + 1] = ("the failure did not come back when replayed (%d replays)%s"):format(runs or 0,
      final and (": the replay failed " .. final.sig .. " instead") or "")
  end
  lines[#lines + 1] = ("replay it whole: %s fuzz/stateful.lua --seed %s --steps %d"):format(
    RUNTIME == "jit" and "luajit" or ("lua" .. RUNTIME), seed, violation.index)
  lines[#lines + 1] = "seed " .. seed
  return table.concat(lines, "\n")
end

--- run{ seed =, seconds =, steps =, log =, ignore =, shrink_seconds =, shrink = false, quiet =, verbose = }
--- -> ok, report. The emulator is started here and always stopped.
function M.run(opts)
  opts = opts or {}
  local seed = opts.seed or (os.time() % 1000000) * 1000 + math.floor(os.clock() * 1000) % 1000
  local seconds, steps = opts.seconds or 20, opts.steps or math.huge
  local say = opts.quiet and function() end or function(s)
    io.stdout:write(s, "\n")
    io.stdout:flush()
  end
  say("seed " .. seed)
  if opts.log then
    opts.log_file = assert(io.open(opts.log, "w"))
    opts.log_file:write("seed ", tostring(seed), " runtime ", RUNTIME, "\n")
    opts.log_file:flush()
  end
  local portal, tmp
  local ok, result = xpcall(function()
    portal = control.start({ big_mb = 1 })
    tmp = control.sh("mktemp -d /tmp/onlyoffice-stateful.XXXXXX"):match("%S+")
    local env = { docspace = portal.docspace, workspace = portal.workspace, https = portal.https,
      cafile = portal.cafile, tmp = tmp,
      big = assert(control.read_file(portal.prefix .. "/files/" .. BIG_ID)) }
    function env.other_origin(flavor)
      return flavor == "workspace" and portal.docspace or portal.workspace
    end
    local R = Runner.new(env, opts)
    local rng = new_rng(seed)
    local ops = {}
    local started = now()
    local violation, count = run_sequence(R, function(i)
      if i > steps or (now() - started >= seconds and steps == math.huge) then
        return nil
      end
      if not ops[i] then
        ops[i] = gen_op(rng, i)
      end
      return ops[i]
    end, opts)
    local report
    if violation and not pcall(R.control, R, "stats") then
      error("the emulator stopped answering (was its nginx killed?) after operation " .. violation.index
        .. "; the last check said: " .. violation.msg, 0)
    end
    if violation then
      say(("invariant %q failed at operation %d: %s"):format(violation.sig, violation.index,
        violation.msg:gsub("\n.*", "")))
      local list, runs, final
      if opts.shrink ~= false then
        say("shrinking (replaying the recorded operations)...")
        list, runs, final = shrink(R, ops, violation, opts)
      end
      report = report_of(seed, violation, list, runs, final, count, opts.shrink ~= false)
    else
      report = ("seed %s: %d operations, every invariant held"):format(seed, count)
    end
    if opts.stats then
      local keys = {}
      for k in pairs(R.stats) do
        keys[#keys + 1] = k
      end
      table.sort(keys)
      local parts = {}
      for _, k in ipairs(keys) do
        parts[#parts + 1] = k .. "=" .. R.stats[k]
      end
      say("counts (last run): " .. table.concat(parts, ", "))
    end
    R:reset()
    R.control_s:close()
    return { ok = violation == nil, report = report }
  end, function(e)
    return debug.traceback(tostring(e), 2)
  end)
  if portal then
    pcall(portal.stop, portal)
  end
  if tmp then
    control.sh("rm -rf '" .. tmp .. "'")
  end
  if opts.log_file then
    opts.log_file:write(ok and result.report or ("driver error: " .. tostring(result)), "\n")
    opts.log_file:close()
    opts.log_file = nil
  end
  if not ok then
    return false, "seed " .. seed .. ": the driver failed: " .. tostring(result)
  end
  return result.ok, result.report
end

local function main(args)
  local opts = { ignore = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    local function value()
      i = i + 1
      return args[i] or error("missing value after " .. a, 0)
    end
    if a == "--seed" then
      opts.seed = assert(tonumber(value()), "--seed takes a number")
    elseif a == "--seconds" then
      opts.seconds = assert(tonumber(value()), "--seconds takes a number")
    elseif a == "--steps" then
      opts.steps = assert(tonumber(value()), "--steps takes a number")
    elseif a == "--log" then
      opts.log = value()
    elseif a == "--ignore" then
      for sig in value():gmatch("[^,]+") do
        opts.ignore[#opts.ignore + 1] = sig
      end
    elseif a == "--shrink-seconds" then
      opts.shrink_seconds = assert(tonumber(value()), "--shrink-seconds takes a number")
    elseif a == "--no-shrink" then
      opts.shrink = false
    elseif a == "--verbose" then
      opts.verbose = true
    elseif a == "--strict" then
      opts.strict = true
    elseif a == "--stats" then
      opts.stats = true
    else
      io.stderr:write("usage: lua5.4 fuzz/stateful.lua [--seed N] [--seconds T] [--steps S] [--log FILE]\n"
        .. "         [--ignore SIG,...] [--shrink-seconds T] [--no-shrink] [--verbose] [--stats] [--strict]\n")
      os.exit(2)
    end
    i = i + 1
  end
  if opts.steps and not opts.seconds then
    opts.seconds = math.huge
  end
  local ok, report = M.run(opts)
  io.stdout:write(report, "\n")
  io.stdout:flush()
  os.exit(ok and 0 or 1)
end

if arg and arg[0] and arg[0]:match("stateful%.lua$") then
  main(arg)
end

return M
