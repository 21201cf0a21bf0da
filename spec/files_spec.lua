local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

local CHUNK = 4096

local read_file, write_file = helper.read_file, helper.write_file
local bytes, reader_of, download_string = helper.bytes, helper.reader_of, helper.download_string

local function list_dir(dir)
  local names = {}
  for name in helper.sh("ls -A '" .. dir .. "'"):gmatch("[^\n]+") do
    names[#names + 1] = name
  end
  return names
end

describe("files", function()
  local portal, dir
  setup(function()
    portal = helper.start()
    dir = helper.sh("mktemp -d /tmp/onlyoffice-files.XXXXXX"):match("%S+")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf '" .. dir .. "'")
  end)

  for _, flavor in ipairs({ "docspace", "workspace" }) do
    describe("on " .. flavor, function()
      local s
      before_each(function() s = assert(onlyoffice.login(portal[flavor], helper.USER, helper.PASSWORD)) end)
      after_each(function() s:close() end)

      local sizes = { 0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17 }
      for _, size in ipairs(sizes) do
        for _, kind in ipairs({ "path", "data", "reader" }) do
          it(("uploads %d bytes from a %s and reads them back identical"):format(size, kind), function()
            local content = bytes(size, size)
            local source
            if kind == "path" then
              source = dir .. "/up-" .. flavor .. "-" .. size .. ".bin"
              write_file(source, content)
            elseif kind == "data" then
              source = { data = content }
            else
              source = { reader = reader_of(content), size = size }
            end
            local entry, err = s:upload(1001, source, { name = "file-" .. size .. ".bin", chunk_size = CHUNK })
            assert.is_nil(err)
            assert.equal("file-" .. size .. ".bin", entry.title)
            assert.equal(size, entry.pureContentLength)
            assert.is_true(helper.is_integer(entry.id))
            local back, n = download_string(s, entry.id)
            assert.equal(size, n)
            assert.is_true(back == content, "content differs")
          end)
        end
      end

      it("sends files above chunk_size in chunks, and small ones in one request", function()
        local before = portal:control("stats").chunks
        assert.is_truthy(s:upload(1001, { data = bytes(10) }, { name = "one.bin", chunk_size = CHUNK }))
        assert.equal(before, portal:control("stats").chunks)
        assert.is_truthy(s:upload(1001, { data = bytes(2 * CHUNK + 1) }, { name = "three.bin", chunk_size = CHUNK }))
        assert.equal(before + 3, portal:control("stats").chunks)
        assert.is_truthy(s:upload(1001, { data = bytes(10) }, { name = "forced.bin", chunked = true }))
        assert.equal(before + 4, portal:control("stats").chunks)
      end)

      it("surfaces a chunk refused with 200 and success = false, with the portal's message", function()
        local entry, err, detail = s:upload(1001, { data = bytes(3 * CHUNK) },
          { name = "failchunk.bin", chunk_size = CHUNK, flow = "legacy" })
        assert.is_nil(entry)
        assert.equal("upload failed at chunk 2: Emulated chunk failure", err)
        assert.equal(2, detail.chunk)
        assert.equal(200, detail.status)
        assert.equal("Emulated chunk failure", detail.error.message)
      end)

      it("reports upload progress rising to the total, in one request and in chunks", function()
        for _, size in ipairs({ 3000, 3 * CHUNK + 5 }) do
          local seen = {}
          assert.is_truthy(s:upload(1001, { data = bytes(size) }, { name = "p.bin", chunk_size = CHUNK,
            progress = function(done, total) seen[#seen + 1] = { done, total } end }))
          assert.is_true(#seen >= 1)
          for i, p in ipairs(seen) do
            assert.equal(size, p[2])
            if i > 1 then
              assert.is_true(p[1] > seen[i - 1][1])
            end
          end
          assert.equal(size, seen[#seen][1])
        end
      end)

      it("downloads to a file, with progress rising to the size", function()
        local content = bytes(200000, 3)
        local entry = assert(s:upload(1001, { data = content }, { name = "dl.bin" }))
        local target = dir .. "/dl-" .. flavor .. ".bin"
        local seen = {}
        local n = assert(s:download(entry.id, target, { progress = function(done, total)
          seen[#seen + 1] = { done, total }
        end }))
        assert.equal(#content, n)
        assert.is_true(read_file(target) == content)
        assert.is_true(#seen > 1)
        for i = 2, #seen do
          assert.is_true(seen[i][1] > seen[i - 1][1])
        end
        assert.same({ #content, #content }, seen[#seen])
      end)

      it("leaves no partial file when a download breaks off", function()
        local target = dir .. "/broken-" .. flavor .. ".bin"
        local before = #list_dir(dir)
        local n, err, detail = s:download(999999, target)
        assert.is_nil(n)
        assert.matches("^network error", err)
        assert.is_true(helper.broke_off(detail))
        assert.is_nil(read_file(target))
        assert.equal(before, #list_dir(dir)) -- no temporary file left either
      end)

      it("keeps an existing file when a download fails", function()
        local target = dir .. "/keep-" .. flavor .. ".bin"
        write_file(target, "old")
        assert.is_nil(s:download(999999, target))
        assert.equal("old", read_file(target))
      end)

      it("reports a missing file with its status and writes nothing", function()
        local target = dir .. "/missing.bin"
        local n, err, detail = s:download(1, target)
        assert.is_nil(n)
        assert.equal(404, detail.status)
        assert.matches("not found", err)
        assert.is_nil(read_file(target))
      end)

      it("logs in again when the token was revoked before an upload", function()
        local logins = portal:logins(nil, flavor)
        portal:control("revoke", { user = helper.USER }, flavor)
        local entry = assert(s:upload(1001, { data = "after revoke" }, { name = "r.txt" }))
        assert.equal("after revoke", (download_string(s, entry.id)))
        assert.equal(logins + 1, portal:logins(nil, flavor))
      end)

      it("pages through every entry of My documents exactly once", function()
        for _, count in ipairs({ 7, 50, 100 }) do
          local ids, n = {}, 0
          for item, index in s:pages("files/@my", nil, { count = count }) do
            n = n + 1
            assert.equal(n, index)
            assert.is_nil(ids[item.id], "entry seen twice")
            ids[item.id] = true
          end
          assert.equal(237, n)
          assert.is_true(ids[2001] and ids[2007] and ids[100001] and ids[100230])
        end
      end)

      it("pages through a plain list with the envelope's total", function()
        local seen = {}
        for person, index in s:pages("people", { fields = "id,displayName" }, { count = 40 }) do
          seen[#seen + 1] = person.email
          assert.equal(#seen, index)
        end
        assert.equal(150, #seen)
        assert.equal("person1@example.com", seen[1])
        assert.equal("person150@example.com", seen[150])
      end)
    end)
  end

  describe("downloads redirected to storage elsewhere", function()
    it("follow the redirect without sending credentials there", function()
      local p = helper.start({ big_mb = 1 })
      local s = assert(onlyoffice.login(p.docspace, helper.USER, helper.PASSWORD))
      local target = dir .. "/elsewhere.bin"
      local n = assert(s:download(999998, target))
      assert.equal(1024 * 1024, n)
      assert.equal(read_file(p.prefix .. "/files/999000"), read_file(target))
      assert.is_false(p:control("stats", nil, "workspace").public_saw_credentials)
      s:close()
      p:stop()
    end)
  end)

  describe("mistakes and failures", function()
    local s
    before_each(function() s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD)) end)
    after_each(function() s:close() end)

    it("a missing upload file is a failure, not an error", function()
      local entry, err = s:upload(1001, dir .. "/does-not-exist")
      assert.is_nil(entry)
      assert.matches("cannot open", err)
    end)

    it("a page that fails raises its message", function()
      local ok, err = pcall(function()
        for _ in s:pages("files/12345") do -- luacheck: ignore
        end
      end)
      assert.is_false(ok)
      assert.matches("HTTP 404", err)
    end)

    it("an error raised by a download sink comes back to the caller", function()
      local entry = assert(s:upload(1001, { data = bytes(50000) }, { name = "sink.bin" }))
      local ok, err = pcall(s.download, s, entry.id, function() error("sink is full") end)
      assert.is_false(ok)
      assert.matches("sink is full", err)
      assert.is_truthy(s:get("people/@self")) -- the session still works
    end)

    it("an error raised by a progress callback comes back to the caller", function()
      local ok, err = pcall(s.upload, s, 1001, { data = bytes(100) }, { name = "x.bin",
        progress = function() error("stop here") end })
      assert.is_false(ok)
      assert.matches("stop here", err)
    end)

    it("a reader that ends early fails the upload", function()
      local entry, err, detail = s:upload(1001, { reader = reader_of("short"), size = 100 }, { name = "r.bin" })
      assert.is_nil(entry)
      assert.equal("upload source: the reader ended before size bytes", err)
      assert.equal("source", detail.kind)
    end)

    local cases = {
      { "data without a name", function() s:upload(1001, { data = "x" }) end, "options.name" },
      { "a reader without a size", function() s:upload(1001, { reader = print }, { name = "x" }) end,
        "needs size" },
      { "a bad folder id", function() s:upload({}, { data = "x" }, { name = "x" }) end, "folder id" },
      { "a bad source", function() s:upload(1001, 42) end, "source must be" },
      { "an unknown upload option", function() s:upload(1001, { data = "x" }, { nam = "x" }) end,
        "unknown option \"nam\"" },
      { "a bad download target", function() s:download(1, 42) end, "target must be" },
      { "a bad pages query", function() s:pages("files/@my", { f = print }) end, "must be a string, number" },
    }
    for _, case in ipairs(cases) do
      it("raises on " .. case[1], function()
        local ok, err = pcall(case[2])
        assert.is_false(ok)
        assert.matches(case[3], err, 1, true)
        assert.matches("files_spec.lua", err, 1, true)
      end)
    end
  end)
end)
