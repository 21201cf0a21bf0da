-- Seams between the module, its callbacks, the collector and its host: the
-- crashes of review b6cfbfc (A1-A5) and their neighbours. Each of these specs
-- would have failed (most by crashing the process) on that code.
--   batches that grow the slot set (A1); a session's own methods, close() and
--   logout() called from its callbacks (A2, A3); a finalizer that raises while
--   libcurl runs (A4); a host that unloads the module and then uses libcurl
--   (A5), and one whose allocator runs dry (spec/support/hosts.c); a trace
--   closure that holds its session; coroutines; ltn12 sinks and sources.
local helper = require "spec.helper"
local bytes = helper.bytes
local onlyoffice = require "onlyoffice"

local IN_USE = "session is in use (called from its own callback)"
local BIG = 300 * 1024 -- a download of this size calls its sink many times
local OPTS = { timeout = 30, stall_timeout = 30, retries = 0 }

local has_ltn12, ltn12 = pcall(require, "ltn12")

local function pack(...)
  return { n = select("#", ...), ... }
end

-- A reader (an ltn12 source) over s in pieces of `size` bytes.
local function pieces(s, size)
  local pos = 1
  return function()
    if pos > #s then
      return nil
    end
    local piece = s:sub(pos, pos + size - 1)
    pos = pos + #piece
    return piece
  end
end

-- A new object whose finalizer is gc: a table on 5.2+, a userdata on 5.1 and
-- LuaJIT, which run __gc for userdata only.
local function finalizable(gc)
  if newproxy then -- luacheck: ignore
    local p = newproxy(true) -- luacheck: ignore
    getmetatable(p).__gc = gc
    return p
  end
  return setmetatable({}, { __gc = gc })
end

-- Open sockets of this process (a session's connections), from /proc.
local function sockets()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*l"):match("^%d+")
  f:close()
  local n = 0
  for line in helper.sh("ls -l /proc/" .. pid .. "/fd 2>/dev/null"):gmatch("[^\n]+") do
    if line:find("socket:", 1, true) then
      n = n + 1
    end
  end
  return n
end

local sh_quote = helper.quote

-- Whether the module under test is the sanitizer build.
local function asan_build()
  return (os.getenv("ONLYOFFICE_CPATH") or ""):find("asan", 1, true) ~= nil
end

describe("seams", function()
  local portal, dir
  setup(function()
    portal = helper.start()
    dir = helper.sh("mktemp -d /tmp/onlyoffice-seams.XXXXXX"):match("%S+")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf " .. sh_quote(dir))
  end)

  -- A login session whose trace hook calls ctx.trace(line) when set.
  local function login(ctx)
    local o = {}
    for k, v in pairs(OPTS) do
      o[k] = v
    end
    if ctx then
      o.trace = function(line)
        if ctx.trace then
          ctx.trace(line)
        end
      end
    end
    return assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, o))
  end

  local function upload_big(s, seed)
    local data = bytes(BIG, seed)
    local entry = assert(s:upload(1001, { data = data }, { name = "big-" .. (seed or 0) .. ".bin" }))
    assert.equal(BIG, entry.pureContentLength)
    return entry.id, data
  end

  local function download_string(s, id)
    local parts = {}
    local n, err, detail = s:download(id, function(chunk)
      parts[#parts + 1] = chunk
      return 1
    end)
    return table.concat(parts), n, err, detail
  end

  -- The session answers again: a plain call succeeds.
  local function assert_usable(s)
    local me, err = s:get("people/@self")
    assert.is_table(me, tostring(err))
    assert.equal(helper.USER, me.email)
    assert.is_string(s:token())
  end

  local function assert_closed(s)
    assert.is_nil(s:token())
    assert.equal("onlyoffice.session (closed)", tostring(s))
    local data, err, detail = s:get("people/@self")
    assert.is_nil(data)
    assert.equal("session is closed", err)
    assert.equal("closed", detail.kind)
    local r = s:batch({ { "GET", "people/@self" } })
    assert.is_false(r[1].ok)
    assert.equal("closed", r[1][3].kind)
    local n, derr, ddetail = s:download(1, function() end)
    assert.is_nil(n)
    assert.equal("session is closed", derr)
    assert.equal("closed", ddetail.kind)
  end

  ---------------------------------------------------------------------------
  -- 1. Batches that grow the session's slots (A1)
  ---------------------------------------------------------------------------
  describe("batches on one session", function()
    local function send(s, n, concurrency, tag)
      local list = {}
      for i = 1, n do
        list[i] = { "GET", "emu/echo", query = { i = i, tag = tag } }
      end
      return { s:batch(list, concurrency and { concurrency = concurrency } or nil), n, tag }
    end

    local function check(sent)
      local r, n, tag = sent[1], sent[2], sent[3]
      assert.equal(n, r.n)
      for i = 1, n do
        assert.is_true(r[i].ok, tostring(r[i][2]))
        assert.equal(2, r[i].n)
        assert.equal(tostring(i), r[i][1].args.i)
        assert.equal(tag, r[i][1].args.tag)
        assert.equal("GET", r[i][1].method)
        assert.equal(200, r[i][2].status)
      end
    end

    local function batch(s, n, concurrency, tag)
      check(send(s, n, concurrency, tag))
    end

    it("each larger than the last (1, 8, 30 at 20, 2, 50 at 50) all answer right", function()
      local s = login()
      -- All sent before any is checked: growing the slots under live handles
      -- crashed (A1), whatever the results looked like.
      local sent = { send(s, 1, nil, "one"), send(s, 8, nil, "eight"), send(s, 30, 20, "thirty"),
        send(s, 2, nil, "two"), send(s, 50, 50, "fifty"), send(s, 70, 3, "seventy") }
      assert_usable(s)
      for _, one in ipairs(sent) do
        check(one)
      end
      s:close()
    end)

    it("a batch after single calls, and single calls, a download and an upload after it", function()
      local s = login()
      local id, data = upload_big(s, 1)
      for i = 1, 3 do
        local e = assert(s:get("emu/echo", { single = i }))
        assert.equal(tostring(i), e.args.single)
      end
      batch(s, 12, 6, "after-singles")
      local e = assert(s:post("emu/echo", { n = 1 }, { q = "post" }))
      assert.equal('{"n":1}', e.body)
      assert.equal("post", e.args.q)
      local back, n = download_string(s, id)
      assert.equal(BIG, n)
      assert.is_true(back == data, "downloaded content differs")
      local entry = assert(s:upload(1001, { data = "small" }, { name = "after-batch.txt" }))
      assert.equal(5, entry.pureContentLength)
      batch(s, 20, 10, "after-transfers")
      e = assert(s:request("GET", "emu/echo", { query = { last = "yes" } }))
      assert.equal("yes", e.args.last)
      s:close()
    end)
  end)

  ---------------------------------------------------------------------------
  -- Outer calls whose callback runs a function once
  ---------------------------------------------------------------------------

  -- The kinds of callback, each with the outer call that runs it. run(s, ctx,
  -- fire) makes the outer call; fire() is called from the callback the first
  -- time it runs (with the callback's arguments); returns pack(pcall(outer)).
  -- ctx.calls counts the callback's calls, ctx.sink_log the sink's.
  local KINDS = {
    { name = "a download sink", outer = "download", run = function(s, ctx, fire)
      return pack(pcall(s.download, s, ctx.file, function(chunk, err)
        ctx.sink_log[#ctx.sink_log + 1] = { chunk = chunk, err = err }
        if chunk then
          ctx.calls = ctx.calls + 1
          if ctx.calls == 1 then
            fire(chunk)
          end
        end
        return 1
      end))
    end },
    { name = "a download progress function", outer = "download", run = function(s, ctx, fire)
      return pack(pcall(s.download, s, ctx.file, function() return 1 end, { progress = function(done, total)
        ctx.calls = ctx.calls + 1
        if ctx.calls == 1 then
          fire(done, total)
        end
      end }))
    end },
    { name = "an upload progress function", outer = "upload", run = function(s, ctx, fire)
      return pack(pcall(s.upload, s, 1001, { data = ctx.data }, { name = "outer.bin", progress = function(done, t)
        ctx.calls = ctx.calls + 1
        if ctx.calls == 1 then
          fire(done, t)
        end
      end }))
    end },
    { name = "an upload reader", outer = "upload", run = function(s, ctx, fire)
      local next_piece = pieces(ctx.data, 16384)
      return pack(pcall(s.upload, s, 1001, { reader = function()
        ctx.calls = ctx.calls + 1
        if ctx.calls == 1 then
          fire()
        end
        return next_piece()
      end, size = #ctx.data }, { name = "outer.bin" }))
    end },
    { name = "the trace hook", outer = "get", run = function(s, ctx, fire)
      ctx.trace = function(line)
        ctx.calls = ctx.calls + 1
        ctx.lines[#ctx.lines + 1] = line
        if ctx.calls == 1 then
          fire(line)
        end
      end
      local r = pack(pcall(s.get, s, "emu/echo", { outer = "yes" }))
      ctx.trace = nil
      return r
    end },
  }

  -- What an outer call gives back on success, checked.
  local function assert_outer_success(kind, ctx, r)
    assert.is_true(r[1], tostring(r[2]))
    if kind.outer == "download" then
      assert.equal(BIG, r[2])
    elseif kind.outer == "upload" then
      assert.equal(#ctx.data, r[2].pureContentLength)
    else
      assert.equal("yes", r[2].args.outer)
    end
  end

  -- A session whose trace hook KINDS can use, and its context: a big file
  -- uploaded (ctx.file) with its content (ctx.data).
  local function traced(seed)
    local ctx = { calls = 0, sink_log = {}, lines = {} }
    local s = login(ctx)
    ctx.file, ctx.data = upload_big(s, seed)
    return s, ctx
  end

  ---------------------------------------------------------------------------
  -- 2. A session's own methods from its callbacks (A2, A3)
  ---------------------------------------------------------------------------
  describe("a callback that calls its own session", function()
    local INNER = {
      { "get", function(s) return s:get("people/@self") end },
      { "request", function(s) return s:request("GET", "people/@self") end },
      { "post", function(s) return s:post("emu/echo", { inner = 1 }) end },
      { "upload", function(s) return s:upload(1001, { data = "inner" }, { name = "inner.txt" }) end },
      { "download", function(s, ctx) return s:download(ctx.file, function() end) end },
      { "batch", function(s) return s:batch({ { "GET", "people/@self" }, { "GET", "emu/echo" } }) end },
      { "pages", function(s)
        for _ in s:pages("people") do -- luacheck: ignore
        end
      end },
    }

    for _, kind in ipairs(KINDS) do
      for _, inner in ipairs(INNER) do
        it(("from %s, s:%s raises %q; the outer call raises it; the session works after"):format(
          kind.name, inner[1], IN_USE), function()
          local s, ctx = traced(2)
          local inner_result
          local r = kind.run(s, ctx, function()
            inner_result = pack(pcall(inner[2], s, ctx))
            if not inner_result[1] then
              error(inner_result[2], 0) -- let it propagate, as an unguarded callback would
            end
          end)
          assert.is_table(inner_result, "the callback never ran")
          assert.is_false(inner_result[1], "the inner call did not raise")
          assert.matches(IN_USE, inner_result[2], 1, true)
          -- The outer call raised that same error, once its transfer stopped:
          -- the callback did not run again.
          assert.is_false(r[1], "the outer call did not raise")
          assert.equal(inner_result[2], r[2])
          assert.equal(1, ctx.calls)
          assert.is_nil(tostring(r[2]):find("already used", 1, true))
          assert_usable(s)
          -- and a whole outer call works too, now without the nested call.
          ctx.calls, ctx.sink_log = 0, {}
          assert_outer_success(kind, ctx, kind.run(s, ctx, function() end))
          s:close()
        end)
      end
    end

    it("the in-use error points at the callback's line that made the call", function()
      local s, ctx = traced(13)
      local line
      local ok, err = pcall(s.download, s, ctx.file, function(chunk)
        if chunk then
          line = debug.getinfo(1, "l").currentline + 1
          local me = s:get("people/@self")
          return me and 1
        end
      end)
      assert.is_false(ok)
      assert.equal("seams_spec.lua:" .. line .. ": " .. IN_USE, tostring(err):match("[^/]*$"))
      ok, err = pcall(s.get, s, "emu/echo")
      assert.is_true(ok, tostring(err))
      ctx.trace = function()
        ctx.trace = nil
        line = debug.getinfo(1, "l").currentline + 1
        local r = s:batch({ { "GET", "emu/echo" } })
        return r
      end
      ok, err = pcall(s.get, s, "emu/echo")
      assert.is_false(ok)
      assert.equal("seams_spec.lua:" .. line .. ": " .. IN_USE, tostring(err):match("[^/]*$"))
      s:close()
    end)

    for _, kind in ipairs(KINDS) do
      it("from " .. kind.name .. ", another session's calls work", function()
        local s, ctx = traced(3)
        local other = login()
        local me, r2, n, back
        local r = kind.run(s, ctx, function()
          me = assert(other:get("people/@self"))
          r2 = other:batch({ { "GET", "emu/echo", query = { x = 1 } }, { "GET", "emu/echo", query = { x = 2 } } })
          back, n = download_string(other, ctx.file)
        end)
        assert_outer_success(kind, ctx, r)
        assert.equal(helper.USER, me.email)
        assert.equal("1", r2[1][1].args.x)
        assert.equal("2", r2[2][1].args.x)
        assert.equal(BIG, n)
        assert.is_true(back == ctx.data, "the other session's download differs")
        assert_usable(s)
        assert_usable(other)
        other:close()
        s:close()
      end)
    end
  end)

  describe("an error raised by a callback", function()
    local values = {
      { "a table", function() return {} end },
      { "nil", function() return nil end },
    }
    for _, kind in ipairs(KINDS) do
      for _, v in ipairs(values) do
        it(("from %s, with %s as the error value, is raised as is by the outer call"):format(kind.name, v[1]),
          function()
            local s, ctx = traced(15)
            local value = v[2]()
            local r = kind.run(s, ctx, function()
              error(value)
            end)
            assert.is_false(r[1], ("the outer call returned %s, %s instead of raising"):format(
              tostring(r[2]), tostring(r[3])))
            assert.equal(value, r[2])
            assert.equal(2, r.n)
            assert_usable(s)
            s:close()
          end)
      end
    end
  end)

  ---------------------------------------------------------------------------
  -- 3. close() and logout() from a callback (A2)
  ---------------------------------------------------------------------------
  describe("a callback that closes its session", function()
    for _, kind in ipairs(KINDS) do
      it("s:close() from " .. kind.name .. " stops the call with kind \"closed\" and closes the session", function()
        local s, ctx = traced(4)
        local token_inside
        local r = kind.run(s, ctx, function()
          s:close()
          s:close() -- idempotent, inside too
          token_inside = s:token()
        end)
        assert.is_nil(token_inside)
        assert.is_true(r[1], "the outer call raised: " .. tostring(r[2]))
        assert.is_nil(r[2])
        assert.equal("session is closed", r[3])
        assert.equal("closed", r[4].kind)
        -- The callback ran no more (the trace hook once more: for the failure).
        assert.equal(kind.name == "the trace hook" and 2 or 1, ctx.calls)
        if kind.name == "the trace hook" then
          assert.equal("< failed: session is closed", ctx.lines[2])
        end
        if kind.name == "a download sink" then
          -- One chunk, then the failure's end: sink(nil, message).
          assert.equal(2, #ctx.sink_log)
          assert.is_string(ctx.sink_log[1].chunk)
          assert.is_nil(ctx.sink_log[2].chunk)
          assert.equal("session is closed", ctx.sink_log[2].err)
        end
        assert_closed(s)
        s:close()
      end)
    end

    it("s:close() from the trace hook's answer line returns the answer, then closes", function()
      local ctx = {}
      local s = login(ctx)
      local seen
      ctx.trace = function(line)
        if line:match("^< ") and not seen then
          seen = line
          s:close()
        end
      end
      local e, info = s:get("emu/echo", { q = "answered" })
      ctx.trace = nil
      assert.matches("^< 200", seen)
      -- The transfer had ended when the hook ran: its answer stands.
      assert.is_table(e, tostring(info))
      assert.equal("answered", e.args.q)
      assert_closed(s)
    end)

    for _, kind in ipairs(KINDS) do
      it("s:logout() from " .. kind.name .. " returns true, then revokes the token and closes", function()
        local s, ctx = traced(5)
        local token = s:token()
        local result
        local r = kind.run(s, ctx, function()
          result = pack(s:logout())
        end)
        assert.same({ n = 1, true }, result)
        assert.is_true(r[1], "the outer call raised: " .. tostring(r[2]))
        assert.is_nil(r[2])
        assert.equal("session is closed", r[3])
        assert.equal("closed", r[4].kind)
        assert.is_false(portal:valid(token))
        assert_closed(s)
        -- The logout happened once the outer call returned: it was traced then.
        if kind.name == "the trace hook" then
          assert.equal("> POST /api/2.0/authentication/logout", ctx.lines[#ctx.lines - 1])
        end
      end)
    end
  end)

  ---------------------------------------------------------------------------
  -- 4. A finalizer that raises while a download streams (A4)
  ---------------------------------------------------------------------------
  describe("a finalizer that raises during a download to a function sink", function()
    it("never breaks the session (no \"easy handle already used\")", function()
      local s = login()
      local size = 1024 * 1024
      local data = bytes(size, 9)
      local entry = assert(s:upload(1001, { data = data }, { name = "gc.bin" }))
      local outcomes = {}
      for round = 1, 6 do
        local armed = false
        local function gc()
          if armed then
            armed = false
            error("boom from __gc " .. round)
          end
        end
        local calls, got = 0, 0
        local pause = collectgarbage("setpause", 50)
        local stepmul = collectgarbage("setstepmul", 400)
        local r = pack(pcall(s.download, s, entry.id, function(chunk)
          if chunk then
            calls = calls + 1
            got = got + #chunk
            if calls == 2 + round then
              for _ = 1, 5000 do
                finalizable(gc)
              end
              armed = true
            end
            local _ = { chunk = chunk, n = calls } -- garbage, so the collector runs here
          end
          return 1
        end))
        armed = false
        collectgarbage("setpause", pause)
        collectgarbage("setstepmul", stepmul)
        pcall(collectgarbage) -- whatever is left runs now, disarmed
        local text = table.concat({ tostring(r[2]), tostring(r[3]) }, " ")
        assert.is_nil(text:find("already used", 1, true), text)
        if r[1] and r[2] ~= nil then
          assert.equal(size, r[2])
          assert.equal(size, got)
          outcomes[#outcomes + 1] = "ok"
        elseif r[1] then
          assert.is_string(r[3])
          assert.is_table(r[4])
          outcomes[#outcomes + 1] = "failed: " .. r[3]
        else
          assert.matches("boom from __gc", tostring(r[2]))
          outcomes[#outcomes + 1] = "raised"
        end
        -- The session works at once: an API call and a whole download.
        assert_usable(s)
        local back, n = download_string(s, entry.id)
        assert.equal(size, n)
        assert.is_true(back == data, "a later download differs")
      end
      assert.equal(6, #outcomes)
      s:close()
    end)
  end)

  ---------------------------------------------------------------------------
  -- 5. Host programs (A5, allocation failures): spec/support/hosts.c
  ---------------------------------------------------------------------------
  describe("a C host", function()
    local hdir, host, cpath, env
    setup(function()
      -- Under the sanitizer run the host is a sanitizer build too, and loads
      -- the sanitizer build of the module (built by `make asan`).
      local flags = "-Wall -Wextra -Werror $(pkg-config --cflags --libs lua5.4 libcurl)"
      cpath = helper.root .. "/build/5.4/?.so"
      env = ""
      if asan_build() then
        flags = "-g -fsanitize=address,undefined -fno-omit-frame-pointer " .. flags
        cpath = helper.root .. "/build/asan/5.4/?.so"
      end
      hdir, host = helper.build_support("hosts", "hosts", flags)
      if asan_build() then
        -- lua-cjson (not the module) leaks its decode buffer when an allocation
        -- fails inside cjson.decode: the memory error longjmps past strbuf_free.
        local supp = hdir .. "/lsan.supp"
        helper.write_file(supp, "leak:strbuf_new\nleak:strbuf_init\n")
        env = "ASAN_OPTIONS=abort_on_error=1 LSAN_OPTIONS=suppressions=" .. supp .. " "
      end
    end)
    teardown(function()
      helper.sh("rm -rf " .. sh_quote(hdir))
    end)

    -- Runs the host with a time limit; its output and exit status.
    local function run(args)
      local out = helper.sh(("%stimeout -s KILL 300 %s %s %s %s %s 2>&1; echo \"exit=$?\""):format(
        env, sh_quote(host), args[1], sh_quote(helper.root), sh_quote(cpath), table.concat(args, " ", 2)))
      local status = tonumber(out:match("exit=(%d+)\n$"))
      return out, status
    end

    it("builds", function()
      assert.is_truthy(helper.read_file(host), "spec/support/hosts.c did not compile")
    end)

    it("uses libcurl itself after closing a Lua state that loaded the module, twice", function()
      local out, status = run({ "unload", sh_quote(portal.docspace) })
      assert.equal(0, status, out)
      assert.matches("round 1: state closed; libcurl alone: No error, HTTP 200\n", out, 1, true)
      assert.matches("round 2: state closed; libcurl alone: No error, HTTP 200\n", out, 1, true)
      assert.matches("unload ok\n", out, 1, true)
    end)

    describe("with an allocator that runs dry", function()
      local out, status
      setup(function()
        local s = login()
        local id = upload_big(s, 6)
        s:close()
        out, status = run({ "oom", sh_quote(portal.docspace), id, asan_build() and 300 or 600 })
      end)

      local function phase(name)
        local line = out:match("phase " .. name:gsub("%+", "%%+") .. ": runs=[^\n]*")
        assert.is_string(line, out)
        local t = {}
        for k, v in line:gmatch("(%w+)=(%d+)") do
          t[k] = tonumber(v)
        end
        return t
      end

      it("never crashes or hangs; memory errors come back as Lua errors or nil, message", function()
        assert.equal(0, status, out)
        assert.is_nil(out:find("unexpected:", 1, true), out)
        assert.is_nil(out:find("ERROR: AddressSanitizer", 1, true), out)
        for _, name in ipairs({ "job", "require+job" }) do
          local t = phase(name)
          assert.is_true(t.runs > 300, out)
          assert.equal(t.runs, t.done + t.errmem + t.failed + t.nostate, out)
          assert.is_true(t.errmem > 100, out) -- the sweep did reach memory errors
          assert.is_true(t.done > 0, out)     -- and ran past the whole job
        end
      end)

      it("after a memory error in a call, the session works once memory is back", function()
        local t = phase("job")
        assert.equal(0, t.stuck, out)
      end)

      it("after a memory error in require \"onlyoffice\", the module loads once memory is back", function()
        local t = phase("require+job")
        assert.equal(0, t.stuck, out)
      end)
    end)
  end)

  ---------------------------------------------------------------------------
  -- 6. A trace closure that holds its own session
  ---------------------------------------------------------------------------
  describe("a session whose trace closure references the session", function()
    local function make(weak, key, use_login)
      local s
      local opts = { retries = 0, trace = function(line)
        local _ = { s, line } -- the closure keeps s
      end }
      if use_login then
        s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, opts))
        assert(s:get("people/@self"))
      else
        s = onlyoffice.session(portal.docspace, "token-" .. key, opts)
      end
      weak[key] = s
    end

    it("is collected (and its connection closed)", function()
      local weak = setmetatable({}, { __mode = "v" })
      collectgarbage()
      collectgarbage()
      local before = sockets()
      for i = 1, 5 do
        make(weak, "session" .. i, false)
      end
      make(weak, "login", true)
      assert.is_truthy(weak.login)
      assert.is_true(sockets() > before, "the login session holds no connection")
      for _ = 1, 4 do
        collectgarbage()
      end
      assert.is_nil(next(weak), "a session that its trace closure references was never collected")
      assert.equal(before, sockets())
    end)
  end)

  ---------------------------------------------------------------------------
  -- 7. Coroutines
  ---------------------------------------------------------------------------
  describe("in a coroutine", function()
    it("calls, a batch, an upload and a download work", function()
      local s = login()
      local co = coroutine.create(function(data)
        local me = assert(s:get("people/@self"))
        coroutine.yield(me.email)
        local r = s:batch({ { "GET", "emu/echo", query = { c = 1 } }, { "GET", "emu/echo", query = { c = 2 } } })
        coroutine.yield(r[1][1].args.c .. r[2][1].args.c)
        local entry = assert(s:upload(1001, { reader = pieces(data, 1000), size = #data }, { name = "co.bin" }))
        local back, n = download_string(s, entry.id)
        return back == data and n
      end)
      local data = bytes(50000, 7)
      assert.same({ true, helper.USER }, { coroutine.resume(co, data) })
      assert.same({ true, "12" }, { coroutine.resume(co) })
      assert.same({ true, 50000 }, { coroutine.resume(co) })
      assert.equal("dead", coroutine.status(co))
      s:close()
    end)

    local yielders = {
      { "a download sink", function(s, ctx)
        return s:download(ctx.file, function(chunk)
          if chunk then
            ctx.calls = ctx.calls + 1
            coroutine.yield("from the sink")
          end
          return 1
        end)
      end },
      { "a download progress function", function(s, ctx)
        return s:download(ctx.file, function() return 1 end, { progress = function()
          ctx.calls = ctx.calls + 1
          coroutine.yield("from progress")
        end })
      end },
      { "an upload reader", function(s, ctx)
        return s:upload(1001, { reader = function()
          ctx.calls = ctx.calls + 1
          coroutine.yield("from the reader")
        end, size = 10 }, { name = "y.bin" })
      end },
    }
    for _, y in ipairs(yielders) do
      it("a yield from " .. y[1] .. " raises from the outer call; the session stays usable", function()
        local s, ctx = traced(8)
        local co = coroutine.create(function()
          return pcall(y[2], s, ctx)
        end)
        local ok, pok, err = coroutine.resume(co)
        assert.is_true(ok, tostring(pok))
        assert.equal("dead", coroutine.status(co), "the coroutine yielded from inside the call")
        assert.is_false(pok)
        assert.matches("attempt to yield across", tostring(err))
        assert.equal(1, ctx.calls)
        assert_usable(s)
        local back, n = download_string(s, ctx.file)
        assert.equal(BIG, n)
        assert.is_true(back == ctx.data)
        s:close()
      end)
    end
  end)

  describe("in a coroutine, callbacks that the Lua layer calls", function()
    -- Resumes co until it ends (at most 50 times); the results of the last resume.
    local function drain(co, ...)
      local r = pack(coroutine.resume(co, ...))
      for _ = 1, 50 do
        if coroutine.status(co) == "dead" then
          break
        end
        r = pack(coroutine.resume(co))
      end
      return r
    end

    local lua_called = {
      { "the trace hook", function(s, ctx)
        ctx.trace = function()
          ctx.calls = ctx.calls + 1
          coroutine.yield("from the trace hook")
        end
        return s:get("people/@self")
      end },
      { "the reader of a chunked upload", function(s, ctx)
        return s:upload(1001, { reader = function()
          ctx.calls = ctx.calls + 1
          coroutine.yield("from the reader")
          return nil
        end, size = 10 }, { name = "y.bin", chunked = true })
      end },
      { "a download sink told the end (sink(nil))", function(s, ctx)
        return s:download(ctx.file, function(chunk)
          if chunk == nil then
            ctx.calls = ctx.calls + 1
            coroutine.yield("from the sink's end")
          end
          return 1
        end)
      end },
    }
    for _, y in ipairs(lua_called) do
      it("a yield from " .. y[1] .. " raises from the outer call like any callback's", function()
        local s, ctx = traced(14)
        local co = coroutine.create(function()
          return pcall(y[2], s, ctx)
        end)
        local ok, pok, err = coroutine.resume(co)
        local suspended = coroutine.status(co) == "suspended"
        local from_main
        if suspended then
          -- Meanwhile the session is unusable from anywhere else.
          from_main = pack(pcall(s.get, s, "people/@self"))
          drain(co) -- let the call finish, so the session is not left in use
        end
        ctx.trace = nil
        assert.is_false(suspended, "the call yielded and was suspended with its session in use ("
          .. tostring(pok) .. "); meanwhile another caller got: " .. tostring(from_main and from_main[2]))
        assert.is_true(ok, tostring(pok))
        assert.is_false(pok)
        assert.matches("attempt to yield across", tostring(err))
        assert.equal(1, ctx.calls)
        assert_usable(s)
        s:close()
      end)
    end

    -- A call suspended in a coroutine that is then dropped (5.2+ and LuaJIT can
    -- yield through the Lua layer's pcall from the trace hook).
    local function abandon(s, ctx)
      ctx.trace = function() coroutine.yield() end
      local co = coroutine.create(function() return s:get("people/@self") end)
      coroutine.resume(co)
      ctx.trace = nil
      co = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
    end

    it("a call suspended in a dropped coroutine does not leave its session in use", function()
      local ctx = {}
      local s = login(ctx)
      abandon(s, ctx)
      local ok, me = pcall(s.get, s, "people/@self")
      assert.is_true(ok, tostring(me))
      assert.equal(helper.USER, me.email)
      s:close()
    end)

    it("a session with a call suspended in a dropped coroutine is released by close and collection", function()
      collectgarbage()
      collectgarbage()
      local before = sockets()
      do
        local ctx = {}
        local s = login(ctx)
        assert(s:get("people/@self"))
        assert.is_true(sockets() > before, "the session holds no connection")
        abandon(s, ctx)
        s:close()
      end
      collectgarbage()
      collectgarbage()
      assert.equal(before, sockets(), "the session's connection stays open")
    end)
  end)

  ---------------------------------------------------------------------------
  -- 8. Sinks that stop, sinks and sources from ltn12
  ---------------------------------------------------------------------------
  describe("download sinks", function()
    local s, file, data
    setup(function()
      s = login()
      file, data = upload_big(s, 10)
    end)
    teardown(function() s:close() end)

    for _, stop in ipairs({ { "nil, \"disk full\"", function() return nil, "disk full" end },
      { "false, \"disk full\"", function() return false, "disk full" end } }) do
      it("returning " .. stop[1] .. " stops the download, then hears (nil, message) once", function()
        local log = {}
        local n, err, detail = s:download(file, function(chunk, e)
          log[#log + 1] = { chunk = chunk, err = e }
          if chunk then
            return stop[2]()
          end
          return 1
        end)
        assert.is_nil(n)
        assert.matches("disk full", err, 1, true)
        assert.equal("sink", detail.kind)
        assert.equal(2, #log)
        assert.is_string(log[1].chunk)
        assert.is_nil(log[2].chunk)
        assert.equal(err, log[2].err)
        assert_usable(s)
      end)
    end

    it("returning false alone stops the download too", function()
      local calls = 0
      local n, _, detail = s:download(file, function(chunk)
        if chunk then
          calls = calls + 1
          return false
        end
        return 1
      end)
      assert.is_nil(n)
      assert.equal("sink", detail.kind)
      assert.equal(1, calls)
    end)

    it("on success hears every chunk, then nil once at the end", function()
      local log = {}
      local n, err = s:download(file, function(chunk, e)
        log[#log + 1] = { chunk = chunk, err = e }
      end)
      assert.is_nil(err)
      assert.equal(BIG, n)
      assert.is_true(#log > 3, "the sink was called only " .. #log .. " times")
      local parts = {}
      for i = 1, #log - 1 do
        assert.is_string(log[i].chunk)
        parts[i] = log[i].chunk
      end
      assert.is_nil(log[#log].chunk)
      assert.is_nil(log[#log].err)
      assert.is_true(table.concat(parts) == data)
    end)

    if has_ltn12 then
      it("ltn12.sink.table", function()
        local t = {}
        local n, err = s:download(file, ltn12.sink.table(t))
        assert.is_nil(err)
        assert.equal(BIG, n)
        assert.is_true(table.concat(t) == data)
      end)

      it("ltn12.sink.file", function()
        local path = dir .. "/ltn12-sink.bin"
        local n, err = s:download(file, ltn12.sink.file(assert(io.open(path, "wb"))))
        assert.is_nil(err)
        assert.equal(BIG, n)
        assert.is_true(helper.read_file(path) == data)
      end)

      it("ltn12.sink.error stops the download with its message", function()
        local n, err, detail = s:download(file, ltn12.sink.error("no room"))
        assert.is_nil(n)
        assert.matches("no room", err, 1, true)
        assert.equal("sink", detail.kind)
      end)

      for _, chunked in ipairs({ false, true }) do
        local how = chunked and " in chunks" or ""
        it("ltn12.source.string as an upload reader" .. how, function()
          local content = bytes(100000, 11)
          local entry = assert(s:upload(1001, { reader = ltn12.source.string(content), size = #content },
            { name = "ltn12-string.bin", chunked = chunked, chunk_size = chunked and 30000 or nil }))
          assert.equal(#content, entry.pureContentLength)
          local back, n = download_string(s, entry.id)
          assert.equal(#content, n)
          assert.is_true(back == content)
        end)

        it("ltn12.source.file as an upload reader" .. how, function()
          local content = bytes(100000, 12)
          local path = dir .. "/ltn12-source.bin"
          helper.write_file(path, content)
          local entry = assert(s:upload(1001, { reader = ltn12.source.file(assert(io.open(path, "rb"))),
            size = #content }, { name = "ltn12-file.bin", chunked = chunked, chunk_size = chunked and 30000 or nil }))
          assert.equal(#content, entry.pureContentLength)
          local back, n = download_string(s, entry.id)
          assert.equal(#content, n)
          assert.is_true(back == content)
        end)
      end

      it("ltn12.source.error fails the upload with kind \"source\"", function()
        local entry, err, detail = s:upload(1001, { reader = ltn12.source.error("unreadable"), size = 10 },
          { name = "err.bin" })
        assert.is_nil(entry)
        assert.matches("unreadable", err, 1, true)
        assert.equal("source", detail.kind)
      end)
    else
      pending("ltn12 sinks and sources: require(\"ltn12\") failed (Debian package lua-socket)")
    end
  end)
end)
