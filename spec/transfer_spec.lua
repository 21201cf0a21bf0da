-- Upload flows (the session API of DocSpace 3.7.1+ and the legacy one) and the
-- download options format and resume, over real HTTP to the emulator.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

local CHUNK = 4096
local VERSION_ROUTE = "GET /api/2.0/settings/version/build"

local read_file, write_file = helper.read_file, helper.write_file
local bytes, q, mode_of, reader_of = helper.bytes, helper.quote, helper.mode_of, helper.reader_of
local download_string = helper.download_string

local function assert_progress(seen, total)
  helper.assert_progress(seen, total, true)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

describe("transfer", function()
  local portal, dir
  setup(function()
    portal = helper.start()
    dir = helper.sh("mktemp -d /tmp/onlyoffice-transfer.XXXXXX"):match("%S+")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf " .. q(dir))
  end)

  local function uploads()
    return portal:control("uploads")
  end
  local function hits(flavor)
    return portal:control("hits", nil, flavor).hits
  end
  local function login(flavor)
    return assert(onlyoffice.login(portal[flavor or "docspace"], helper.USER, helper.PASSWORD))
  end
  local function set_version(v)
    portal:control("version", v and { docspace = v } or nil)
  end

  describe("uploads choose their flow", function()
    after_each(function() set_version(nil) end)

    local cases = {
      { "3.7.1", "docspace", "session" },
      { "3.7.1.1234", "docspace", "session" },
      { "3.8", "docspace", "session" },
      { "4.0.0", "docspace", "session" },
      { "3.7.0", "docspace", "legacy" },
      { "3.6.0", "docspace", "legacy" },
      { "v3.6.1.45", "docspace", "legacy" },
      { "missing", "docspace", "legacy" },
      { "unknown", "docspace", "legacy" },
      { "3.7.1", "workspace", "legacy" },
    }
    for _, case in ipairs(cases) do
      it(("by the version: %s on %s takes the %s flow"):format(case[1], case[2], case[3]), function()
        set_version(case[1])
        local s = login(case[2])
        local before = case[2] == "docspace" and uploads()
        local content = bytes(2 * CHUNK + 1, 5)
        local entry, err = s:upload(1001, { data = content }, { name = "flow.bin", chunk_size = CHUNK })
        assert.is_nil(err)
        assert.equal(#content, entry.pureContentLength)
        assert.is_true(download_string(s, entry.id) == content)
        s:close()
        if before then
          local after = uploads()
          local session = case[3] == "session"
          assert.equal(session and 3 or 0, after.session_chunks - before.session_chunks)
          assert.equal(session and 0 or 3, after.legacy_chunks - before.legacy_chunks)
          assert.equal(session and 1 or 0, after.finalized - before.finalized)
        end
      end)
    end

    it("asks the version once per session, and not for uploads in one request", function()
      local count = hits()[VERSION_ROUTE] or 0
      local s = login()
      assert.is_truthy(s:upload(1001, { data = "small" }, { name = "small.txt" }))
      assert.equal(count, hits()[VERSION_ROUTE] or 0)
      for i = 1, 3 do
        assert.is_truthy(s:upload(1001, { data = bytes(CHUNK + i) }, { name = "v.bin", chunk_size = CHUNK }))
      end
      assert.equal(count + 1, hits()[VERSION_ROUTE])
      s:close()
      s = login()
      assert.is_truthy(s:upload(1001, { data = "x" }, { name = "x.bin", chunked = true }))
      assert.equal(count + 2, hits()[VERSION_ROUTE])
      s:close()
    end)

    it("keeps the legacy answer for the session too (asked once on a portal without the route)", function()
      set_version("missing")
      local count = hits()[VERSION_ROUTE] or 0
      local s = login()
      for _ = 1, 2 do
        assert.is_truthy(s:upload(1001, { data = "x" }, { name = "x.bin", chunked = true }))
      end
      assert.equal(count + 1, hits()[VERSION_ROUTE])
      s:close()
    end)

    it("or as options.flow says, without asking", function()
      local s = login()
      local count = hits()[VERSION_ROUTE] or 0
      local before = uploads()
      assert.is_truthy(s:upload(1001, { data = bytes(2 * CHUNK) }, { name = "l.bin", chunk_size = CHUNK,
        flow = "legacy" }))
      local mid = uploads()
      assert.equal(2, mid.legacy_chunks - before.legacy_chunks)
      assert.equal(0, mid.session_chunks - before.session_chunks)
      -- A forced flow is a chunked upload, also for a small file.
      local entry = assert(s:upload(1001, { data = "tiny" }, { name = "tiny.txt", flow = "session" }))
      assert.equal("tiny", download_string(s, entry.id))
      assert.equal(1, uploads().session_chunks - mid.session_chunks)
      assert.equal(count, hits()[VERSION_ROUTE] or 0)
      s:close()
    end)

    it("a forced session flow on a portal without it fails with the portal's 404", function()
      set_version("3.6.0")
      local s = login()
      local entry, err, detail = s:upload(1001, { data = "x" }, { name = "x.bin", flow = "session" })
      assert.is_nil(entry)
      assert.equal(404, detail.status)
      assert.matches("^POST /api/2.0/files/1001/session: HTTP 404", err)
      s:close()
    end)
  end)

  describe("the session flow", function()
    local s
    before_each(function() s = login() end)
    after_each(function() s:close() end)

    it("sends numbered chunks in order, then finalizes", function()
      local before = uploads()
      local content = bytes(3 * CHUNK + 17, 9)
      local entry = assert(s:upload(1001, { data = content }, { name = "numbered.bin", chunk_size = CHUNK }))
      local after = uploads()
      assert.same({ 1, 2, 3, 4 }, after.last_order)
      assert.equal(1, after.finalized - before.finalized)
      assert.equal(0, after.aborts - before.aborts)
      assert.is_true(download_string(s, entry.id) == content)
    end)

    it("returns the file entry in the same shape as the legacy flow", function()
      local content = bytes(2 * CHUNK + 3, 1)
      local a = assert(s:upload(1001, { data = content }, { name = "shape.bin", chunk_size = CHUNK }))
      local b = assert(s:upload(1001, { data = content }, { name = "shape.bin", chunk_size = CHUNK,
        flow = "legacy" }))
      assert.same(sorted_keys(b), sorted_keys(a))
      assert.equal("shape.bin", a.title)
      assert.equal(#content, a.pureContentLength)
      assert.equal(1001, a.folderId)
      assert.is_true(helper.is_integer(a.id))
      assert.is_nil(a.uploaded) -- the entry, not finalize's wrapper
    end)

    it("aborts the session when a chunk is refused, and makes no file", function()
      local before = uploads()
      local entry, err, detail = s:upload(1001, { data = bytes(3 * CHUNK) },
        { name = "failchunk.bin", chunk_size = CHUNK })
      assert.is_nil(entry)
      assert.equal("upload failed at chunk 2: HTTP 400: Emulated chunk failure", err)
      assert.equal(2, detail.chunk)
      assert.equal(400, detail.status)
      assert.equal("Emulated chunk failure", detail.error.message)
      assert.matches("/session/%w+/upload%?chunkNumber=2$", detail.path)
      local after = uploads()
      assert.equal(1, after.aborts - before.aborts)
      assert.equal(0, after.finalized - before.finalized)
      assert.same({ 1, 2 }, after.last_order) -- nothing sent after the refusal
    end)

    it("aborts the session when a callback raises, and the error comes back", function()
      local before = uploads()
      local calls = 0
      local ok, err = pcall(s.upload, s, 1001, { data = bytes(3 * CHUNK) }, { name = "raise.bin",
        chunk_size = CHUNK, progress = function(done)
          calls = calls + 1
          if done > CHUNK then
            error("progress says no")
          end
        end })
      assert.is_false(ok)
      assert.matches("transfer_spec.lua:%d+: progress says no", err)
      local after = uploads()
      assert.equal(1, after.aborts - before.aborts)
      assert.equal(0, after.finalized - before.finalized)
      assert.is_truthy(s:upload(1001, { data = "still usable" }, { name = "after.txt" }))
    end)

    it("aborts the session when a reader fails in a later chunk", function()
      local before = uploads()
      local sent = 0
      local entry, err, detail = s:upload(1001, { size = 3 * CHUNK, reader = function()
        if sent >= 2 * CHUNK then
          return nil, "disk gone"
        end
        sent = sent + CHUNK
        return bytes(CHUNK)
      end }, { name = "reader-fail.bin", chunk_size = CHUNK })
      assert.is_nil(entry)
      assert.equal("source", detail.kind)
      assert.matches("disk gone", err)
      assert.equal(1, uploads().aborts - before.aborts)
    end)

    it("logs in again when the token was revoked, and sends the chunk again", function()
      local logins = portal:logins()
      portal:control("revoke", { user = helper.USER })
      local content = bytes(2 * CHUNK + 9, 4)
      local entry = assert(s:upload(1001, { data = content }, { name = "relogin.bin", chunk_size = CHUNK }))
      assert.is_true(download_string(s, entry.id) == content)
      assert.equal(logins + 1, portal:logins())
    end)
  end)

  for _, flow in ipairs({ "session", "legacy" }) do
    describe("readers and progress in the " .. flow .. " flow", function()
      local s
      before_each(function() s = login() end)
      after_each(function() s:close() end)

      for _, kind in ipairs({ "data", "reader", "path" }) do
        it("upload from a " .. kind .. " in chunks, progress rising to the total", function()
          local content = bytes(3 * CHUNK + 5, #kind)
          local source = { data = content }
          if kind == "reader" then
            source = { reader = reader_of(content), size = #content }
          elseif kind == "path" then
            source = dir .. "/" .. flow .. "-source.bin"
            write_file(source, content)
          end
          local seen = {}
          local entry = assert(s:upload(1001, source, { name = "rp.bin", chunk_size = CHUNK, flow = flow,
            progress = function(done, total) seen[#seen + 1] = { done, total } end }))
          assert_progress(seen, #content)
          assert.is_true(#seen >= 4)
          assert.is_true(download_string(s, entry.id) == content)
        end)
      end

      it("uploads an empty file in one chunk", function()
        local entry = assert(s:upload(1001, { data = "" }, { name = "empty.bin", flow = flow }))
        assert.equal(0, entry.pureContentLength)
      end)
    end)
  end

  describe("the emulated session routes", function()
    local s, token
    before_each(function()
      s = login()
      token = s:token()
    end)
    after_each(function() s:close() end)

    local function open_session(size)
      return assert(s:post("files/1001/session", { fileName = "raw.bin", fileSize = size })).id
    end
    -- A chunk sent with curl, as a client that numbers its chunks itself.
    local function curl(method, path, file)
      local cmd = ("curl -s -o /dev/null -w '%%{http_code}' -X %s -H %s %s %s"):format(method,
        q("Authorization: " .. token), file and ("-F " .. q("File=@" .. file)) or "", q(portal.docspace .. path))
      return tonumber(helper.sh(cmd))
    end

    it("assemble chunks that came out of order, and refuse to finalize with bytes missing", function()
      local a, b, c = bytes(CHUNK, 1), bytes(CHUNK, 2), bytes(100, 3)
      for i, part in ipairs({ a, b, c }) do
        write_file(dir .. "/chunk" .. i, part)
      end
      local id = open_session(2 * CHUNK + 100)
      local base = "/api/2.0/files/1001/session/" .. id
      assert.equal(200, curl("POST", base .. "/upload?chunkNumber=3", dir .. "/chunk3"))
      assert.equal(200, curl("POST", base .. "/upload?chunkNumber=1", dir .. "/chunk1"))
      assert.equal(400, curl("PUT", base .. "/finalize"))
      assert.equal(200, curl("POST", base .. "/upload?chunkNumber=2", dir .. "/chunk2"))
      local done = assert(s:put("files/1001/session/" .. id .. "/finalize"))
      assert.is_true(done.uploaded)
      assert.equal("raw.bin", done.title)
      assert.is_true(download_string(s, done.file.id) == a .. b .. c)
    end)

    it("refuse a chunk above 10 MiB", function()
      local big = dir .. "/big-chunk"
      helper.sh("head -c 10485761 /dev/zero > " .. q(big))
      local id = open_session(10485761)
      assert.equal(400, curl("POST", "/api/2.0/files/1001/session/" .. id .. "/upload?chunkNumber=1", big))
    end)

    it("finalize by themselves when chunks go to the sequential route", function()
      for i, part in ipairs({ bytes(CHUNK, 4), bytes(10, 5) }) do
        write_file(dir .. "/seq" .. i, part)
      end
      local id = open_session(CHUNK + 10)
      local base = "/api/2.0/files/1001/session/" .. id
      assert.equal(200, curl("POST", base, dir .. "/seq1"))
      assert.equal(201, curl("POST", base, dir .. "/seq2"))
    end)
  end)

  describe("downloads", function()
    local s, content, id
    setup(function()
      local t = login()
      content = bytes(300000, 7)
      id = assert(t:upload(1001, { data = content }, { name = "resume.docx" })).id
      t:close()
    end)
    before_each(function() s = login() end)
    after_each(function() s:close() end)

    local function seen_headers()
      return portal:control("seen", { path = "/filehandler.ashx" }).headers
    end
    local function no_part(target)
      assert.is_nil(read_file(target .. ".part"))
      assert.is_nil(read_file(target .. ".part.meta"))
    end

    describe("with format", function()
      for _, format in ipairs({ "pdf", ".pdf", "PDF" }) do
        it(("%q asks the portal to convert"):format(format), function()
          local got = download_string(s, id, { format = format })
          assert.is_true(got == ("%%PDF-1.7\n%%emulated conversion of file %d\n"):format(id) .. content)
        end)
      end

      it("to a path, with the converted size in the progress", function()
        local target = dir .. "/converted.pdf"
        local seen = {}
        local n = assert(s:download(id, target, { format = "pdf",
          progress = function(done, total) seen[#seen + 1] = { done, total } end }))
        assert.equal(read_file(target):sub(1, 9), "%PDF-1.7\n")
        assert.equal(#read_file(target), n)
        assert_progress(seen, n)
      end)

      it("of a type the portal cannot convert to gives the original", function()
        assert.is_true(download_string(s, id, { format = "exe" }) == content)
      end)
    end)

    describe("with resume", function()
      it("refuses a second download into a part that another one is writing", function()
        local target = dir .. "/twice.docx"
        local other = login()
        local inner
        local n = assert(s:download(id, target, { resume = true, progress = function(done)
          if done > 0 and not inner then
            inner = { other:download(id, target, { resume = true }) }
          end
        end }))
        other:close()
        assert.is_nil(inner[1])
        assert.equal("io", inner[3].kind)
        assert.matches("busy", inner[2], 1, true)
        assert.equal(#content, n)
        assert.is_true(read_file(target) == content)
        no_part(target)
      end)

      it("continues a broken-off download with Range and If-Range, to the exact bytes", function()
        local target = dir .. "/resumed.docx"
        portal:control("breakoff", { id = id, at = 100000 })
        local n, err, detail = s:download(id, target, { resume = true })
        assert.is_nil(n)
        assert.matches("^network error", err)
        assert.equal(target .. ".part", detail.part)
        assert.is_nil(read_file(target))
        assert.equal(100000, #read_file(target .. ".part"))
        assert.equal("600", mode_of(target .. ".part"))
        assert.matches('^"', read_file(target .. ".part.meta")) -- the strong ETag of that answer
        local seen = {}
        n = assert(s:download(id, target, { resume = true,
          progress = function(done, total) seen[#seen + 1] = { done, total } end }))
        assert.equal(#content, n)
        assert.is_true(read_file(target) == content)
        local headers = seen_headers()
        assert.equal("bytes=100000-", headers.range)
        assert.matches('^"', headers["if-range"])
        assert.is_true(seen[1][1] > 100000) -- progress counts what the part held
        assert_progress(seen, #content)
        no_part(target)
      end)

      it("starts again from zero when the portal answers 200 instead of 206", function()
        local target = dir .. "/restarted.docx"
        portal:control("breakoff", { id = id, at = 150000 })
        assert.is_nil(s:download(id, target, { resume = true }))
        portal:control("norange", { id = id, on = 1 })
        local seen = {}
        local n = s:download(id, target, { resume = true,
          progress = function(done, total) seen[#seen + 1] = { done, total } end })
        portal:control("norange", { id = id, on = 0 })
        assert.equal(#content, n)
        assert.is_true(read_file(target) == content)
        assert.equal("bytes=150000-", seen_headers().range) -- asked, but not granted
        assert.is_true(seen[1][1] < 150000)
        assert_progress(seen, #content)
        no_part(target)
      end)

      it("takes the whole new file when it changed since the first attempt", function()
        local t = login()
        local other = bytes(50000, 11)
        local oid = assert(t:upload(1001, { data = other }, { name = "changing.bin" })).id
        t:close()
        local target = dir .. "/changed.bin"
        portal:control("breakoff", { id = oid, at = 20000 })
        assert.is_nil(s:download(oid, target, { resume = true }))
        portal:control("rewrite", { id = oid })
        local n = assert(s:download(oid, target, { resume = true }))
        local changed = other:gsub(".", function(c) return string.char((c:byte() + 1) % 256) end)
        assert.equal(#changed, n)
        assert.is_true(read_file(target) == changed) -- not the old head spliced onto the new tail
        no_part(target)
      end)

      it("breaks off twice and still ends with the exact bytes", function()
        local target = dir .. "/twice.docx"
        portal:control("breakoff", { id = id, at = 50000 })
        assert.is_nil(s:download(id, target, { resume = true }))
        portal:control("breakoff", { id = id, at = 70000 })
        assert.is_nil(s:download(id, target, { resume = true }))
        assert.equal(120000, #read_file(target .. ".part"))
        assert.equal(#content, assert(s:download(id, target, { resume = true })))
        assert.is_true(read_file(target) == content)
      end)

      it("renames a part that already holds the whole file when the portal answers 416", function()
        local target = dir .. "/complete.docx"
        write_file(target .. ".part", content)
        local n = assert(s:download(id, target, { resume = true }))
        assert.equal(#content, n)
        assert.is_true(read_file(target) == content)
        assert.equal("bytes=300000-", seen_headers().range)
        no_part(target)
      end)

      it("drops a part longer than the file and starts from zero", function()
        local target = dir .. "/toolong.docx"
        write_file(target .. ".part", content .. "junk")
        assert.equal(#content, assert(s:download(id, target, { resume = true })))
        assert.is_true(read_file(target) == content)
        no_part(target)
      end)

      it("without a part is a plain download that leaves no part", function()
        local target = dir .. "/plain.docx"
        assert.equal(#content, assert(s:download(id, target, { resume = true })))
        assert.is_true(read_file(target) == content)
        assert.is_nil(seen_headers().range)
        no_part(target)
      end)

      it("leaves no empty part after a failure before any byte", function()
        local target = dir .. "/missing.docx"
        local n, _, detail = s:download(1, target, { resume = true })
        assert.is_nil(n)
        assert.equal(404, detail.status)
        assert.is_nil(detail.part)
        assert.is_nil(read_file(target))
        no_part(target)
      end)

      it("keeps the mode of the file it replaces, and makes a new one 0600", function()
        local target = dir .. "/moded.docx"
        write_file(target, "old")
        helper.sh("chmod 640 " .. q(target))
        portal:control("breakoff", { id = id, at = 1000 })
        assert.is_nil(s:download(id, target, { resume = true }))
        assert.equal("old", read_file(target))
        assert(s:download(id, target, { resume = true }))
        assert.equal("640", mode_of(target))
        local fresh = dir .. "/fresh.docx"
        assert(s:download(id, fresh, { resume = true }))
        assert.equal("600", mode_of(fresh))
      end)

      it("refuses a part that is a symbolic link", function()
        local target = dir .. "/linked.docx"
        write_file(dir .. "/elsewhere", "x")
        helper.sh("ln -s " .. q(dir .. "/elsewhere") .. " " .. q(target .. ".part"))
        local n, err, detail = s:download(id, target, { resume = true })
        assert.is_nil(n)
        assert.equal("io", detail.kind)
        assert.matches("^cannot write", err)
        assert.equal("x", read_file(dir .. "/elsewhere"))
      end)
    end)
  end)

  describe("option mistakes raise at the caller's line", function()
    local s
    setup(function() s = login() end)
    teardown(function() s:close() end)
    local cases = {
      { "an unknown flow", function() s:upload(1001, { data = "x" }, { name = "x", flow = "fast" }) end,
        '"flow" must be "session" or "legacy"' },
      { "a flow that is not a string", function() s:upload(1001, { data = "x" }, { name = "x", flow = true }) end,
        '"flow" must be a string' },
      { "a chunk above 10 MiB", function()
        s:upload(1001, { data = "x" }, { name = "x", chunk_size = 10485761 }) end, "the portal's limit" },
      { "a format with other characters", function() s:download(1, "/tmp/x", { format = "p/df" }) end,
        '"format" must be a file extension' },
      { "an empty format", function() s:download(1, "/tmp/x", { format = "" }) end,
        '"format" must be a file extension' },
      { "a format that is not a string", function() s:download(1, "/tmp/x", { format = 1 }) end,
        '"format" must be a string' },
      { "resume to a sink", function() s:download(1, function() end, { resume = true }) end,
        '"resume" needs a file path target' },
      { "resume that is not a boolean", function() s:download(1, "/tmp/x", { resume = "yes" }) end,
        '"resume" must be a boolean' },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local ok, err = pcall(case[2])
        assert.is_false(ok)
        assert.matches("transfer_spec.lua:%d+: ", err)
        assert.is_truthy(err:find(case[3], 1, true), err)
      end)
    end
  end)
end)
