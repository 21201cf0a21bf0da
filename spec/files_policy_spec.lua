-- Policies of uploads and downloads: what a download does to the file system
-- (modes, durability, failures that leave nothing behind), which upload sources
-- are refused before anything is sent, sources that change while they are read,
-- progress that ends at the total, and errors raised by the caller's callbacks.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

local CHUNK = 4096
local THIS_FILE = debug.getinfo(1, "S").short_src

local read_file, write_file = helper.read_file, helper.write_file
local bytes, q, mode_of = helper.bytes, helper.quote, helper.mode_of
local assert_progress, download_string = helper.assert_progress, helper.download_string

-- The names in a directory, sorted.
local function list_dir(dir)
  local names = {}
  for name in helper.sh("ls -A " .. q(dir)):gmatch("[^\n]+") do
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

local function file_type(path)
  return helper.sh("stat -c %F " .. q(path) .. " 2>/dev/null"):match("[^\n]+")
end

-- What a new file gets from this process's umask: 0666 & ~umask, in octal.
local function umask_mode()
  return helper.sh("printf '%o' $(( 0666 & ~0$(umask) ))"):match("%d+")
end

-- Wall-clock milliseconds (os.clock is CPU time, os.time whole seconds).
local function now_ms()
  return tonumber(helper.sh("date +%s%N"):match("%d+")) / 1e6
end

-- A reader that hands out the strings of list, then nil.
local function reader_of(list)
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

-- A progress function that records its calls.
local function recorder()
  local seen = {}
  return seen, function(done, total)
    seen[#seen + 1] = { done, total }
  end
end

-- Revokes the test user's tokens from another session (usable inside a callback of s).
local function revoke(portal)
  local c = onlyoffice.session(portal.docspace, "control", { retries = 0 })
  local ok, err = c:get("/__emu/revoke", { user = helper.USER })
  c:close()
  assert(ok, err)
end

describe("file policy", function()
  local portal, root, s, sent
  setup(function()
    portal = helper.start()
    root = helper.sh("mktemp -d /tmp/onlyoffice-policy.XXXXXX"):match("%S+")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf " .. q(root))
  end)
  before_each(function()
    sent = {}
    s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, { trace = function(line)
      if line:sub(1, 1) == ">" then
        sent[#sent + 1] = line
      end
    end }))
    sent = {} -- the login's own request does not count
  end)
  after_each(function()
    s:close()
  end)

  -- A new empty directory under root, for one spec.
  local function fresh_dir()
    return helper.sh("mktemp -d " .. q(root .. "/t.XXXXXX")):match("%S+")
  end

  local function uploaded(content)
    return assert(s:upload(1001, { data = content }, { name = "policy.bin" }))
  end

  describe("a download to a path", function()
    for _, mode in ipairs({ "600", "640", "755" }) do
      it("that replaces a file keeps that file's mode " .. mode, function()
        local dir = fresh_dir()
        local target = dir .. "/doc.bin"
        write_file(target, "old content")
        helper.sh("chmod " .. mode .. " " .. q(target))
        assert.equal(mode, mode_of(target))
        local content = bytes(70000, 1)
        local n, err = s:download(uploaded(content).id, target)
        assert.is_nil(err)
        assert.equal(#content, n)
        assert.equal(mode, mode_of(target))
        assert.is_true(read_file(target) == content, "content differs")
        assert.same({ "doc.bin" }, list_dir(dir))
      end)
    end

    it("creates a new file with the umask's mode", function()
      local dir = fresh_dir()
      local target = dir .. "/new.bin"
      local content = bytes(5000, 2)
      assert.equal(#content, s:download(uploaded(content).id, target))
      assert.equal(umask_mode(), mode_of(target))
      if helper.sh("umask"):match("%d+") == "0022" then
        assert.equal("644", mode_of(target))
      end
      assert.is_true(read_file(target) == content, "content differs")
      assert.same({ "new.bin" }, list_dir(dir))
    end)

    for _, existing in ipairs({ false, true }) do
      it("of an empty file leaves an empty file" .. (existing and ", replacing an existing one" or ""), function()
        local dir = fresh_dir()
        local target = dir .. "/empty.bin"
        if existing then
          write_file(target, "old content")
        end
        local n, err = s:download(uploaded("").id, target)
        assert.is_nil(err)
        assert.equal(0, n)
        assert.equal("", read_file(target))
        assert.same({ "empty.bin" }, list_dir(dir))
      end)
    end

    it("with durable = true writes the whole file, for a new and a replaced one", function()
      local dir = fresh_dir()
      local content = bytes(300000, 3)
      local id = uploaded(content).id
      local seen, progress = recorder()
      local n, err = s:download(id, dir .. "/durable.bin", { durable = true, progress = progress })
      assert.is_nil(err)
      assert.equal(#content, n)
      assert.is_true(read_file(dir .. "/durable.bin") == content, "content differs")
      assert_progress(seen, #content)
      write_file(dir .. "/old.bin", "old")
      helper.sh("chmod 600 " .. q(dir .. "/old.bin"))
      assert.equal(#content, s:download(id, dir .. "/old.bin", { durable = true }))
      assert.is_true(read_file(dir .. "/old.bin") == content, "content differs")
      assert.equal("600", mode_of(dir .. "/old.bin"))
      assert.same({ "durable.bin", "old.bin" }, list_dir(dir))
    end)

    it("into a directory that does not exist fails with kind io and leaves nothing", function()
      local dir = fresh_dir()
      local id = uploaded("some bytes").id
      for _, durable in ipairs({ false, true }) do
        local n, err, detail = s:download(id, dir .. "/missing/sub/file.bin", { durable = durable })
        assert.is_nil(n)
        assert.equal("io", detail.kind)
        assert.equal(2, detail.errno) -- ENOENT
        assert.matches("cannot write " .. dir .. "/missing/sub/file.bin", err, 1, true)
        assert.same({}, list_dir(dir))
      end
      assert.is_truthy(s:get("people/@self"))
    end)

    it("over a directory path fails cleanly and leaves the directory as it was", function()
      local dir = fresh_dir()
      helper.sh("mkdir " .. q(dir .. "/folder") .. " && echo kept > " .. q(dir .. "/folder/inside.txt"))
      local n, err, detail = s:download(uploaded(bytes(20000)).id, dir .. "/folder")
      assert.is_nil(n)
      assert.equal("io", detail.kind)
      assert.is_number(detail.errno)
      assert.matches("cannot write " .. dir .. "/folder", err, 1, true)
      assert.equal("directory", file_type(dir .. "/folder"))
      assert.same({ "folder" }, list_dir(dir))
      assert.same({ "inside.txt" }, list_dir(dir .. "/folder"))
      assert.equal("kept\n", read_file(dir .. "/folder/inside.txt"))
    end)

    describe("leaves no .part file behind when it fails:", function()
      local cases = {
        { "a missing file (404)", function(_, target)
          return s:download(1, target)
        end, "http" },
        { "a body that breaks off", function(_, target)
          return s:download(999999, target)
        end, "network" },
        { "a directory that does not exist", function(id, target)
          return s:download(id, (target:gsub("/([^/]*)$", "/nowhere/%1")))
        end, "io" },
      }
      for _, case in ipairs(cases) do
        for _, existing in ipairs({ false, true }) do
          it(case[1] .. (existing and ", over an existing file" or ""), function()
            local dir = fresh_dir()
            local id = uploaded(bytes(100000)).id
            local target = dir .. "/target.bin"
            if existing then
              write_file(target, "old")
              helper.sh("chmod 600 " .. q(target))
            end
            local n, err, detail = case[2](id, target)
            assert.is_nil(n)
            assert.is_string(err)
            if case[3] then
              assert.equal(case[3], detail.kind)
            end
            assert.same(existing and { "target.bin" } or {}, list_dir(dir))
            if existing then
              assert.equal("old", read_file(target))
              assert.equal("600", mode_of(target))
            end
          end)
        end
      end

      it("a progress function that raises", function()
        local dir = fresh_dir()
        local id = uploaded(bytes(100000)).id
        local ok, err = pcall(s.download, s, id, dir .. "/target.bin", { progress = function()
          error("progress refuses")
        end })
        assert.is_false(ok)
        assert.matches("progress refuses", err, 1, true)
        assert.same({}, list_dir(dir))
      end)

      it("the session closed from the progress function", function()
        local dir = fresh_dir()
        local t = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
        local id = assert(t:upload(1001, { data = bytes(100000) }, { name = "c.bin" })).id
        local n, err, detail = t:download(id, dir .. "/target.bin", { progress = function()
          t:close()
        end })
        assert.is_nil(n)
        assert.equal("session is closed", err)
        assert.equal("closed", detail.kind)
        assert.same({}, list_dir(dir))
      end)
    end)
  end)

  describe("upload sources", function()
    local function refused(path, opts, why)
      local ok, entry, err, detail = pcall(s.upload, s, 1001, path, opts)
      assert.is_true(ok, "raised: " .. tostring(entry))
      assert.is_nil(entry)
      assert.is_string(err)
      assert.matches("^upload source: ", err)
      assert.matches(why, err, 1, true)
      assert.equal("source", detail.kind)
      assert.same({}, sent) -- nothing went to the portal
    end

    for _, chunked in ipairs({ false, true }) do
      local how = chunked and " (chunked)" or ""
      it("a directory is refused before anything is sent" .. how, function()
        local dir = fresh_dir()
        refused(dir, { chunked = chunked }, "not a regular file")
        refused(dir .. "/", { chunked = chunked, name = "x" }, "not a regular file")
      end)

      it("a nonexistent path is refused before anything is sent" .. how, function()
        local dir = fresh_dir()
        refused(dir .. "/no-such-file.bin", { chunked = chunked }, "No such file or directory")
      end)

      it("a FIFO is refused at once, without waiting for a writer" .. how, function()
        local dir = fresh_dir()
        local fifo = dir .. "/pipe"
        helper.sh("mkfifo " .. q(fifo))
        -- A writer that holds the FIFO open for 5 s at most: should the module open
        -- it, its read ends then (EOF) instead of hanging the run.
        local writer = helper.sh("timeout 8 sh -c " .. q("exec 3>" .. q(fifo) .. "; sleep 5")
          .. " </dev/null >/dev/null 2>&1 & echo $!"):match("%d+")
        local started = now_ms()
        local ok, a, b, c = pcall(s.upload, s, 1001, fifo, { chunked = chunked })
        local took = now_ms() - started
        helper.sh("kill " .. writer .. " 2>/dev/null")
        assert.is_true(ok, "raised: " .. tostring(a))
        assert.is_nil(a)
        assert.matches("not a regular file", b, 1, true)
        assert.equal("source", c.kind)
        assert.is_true(took < 2000, ("took %.0f ms"):format(took))
        assert.same({}, sent)
      end)
    end

    describe("a file that changes size during the upload fails", function()
      -- Uploads path while act(path) runs once from the first progress call
      -- between 0 and the total; returns the upload's results.
      local function upload_changing(size, opts, act)
        local dir = fresh_dir()
        local path = dir .. "/changing.bin"
        write_file(path, bytes(size, 5))
        local fired = false
        opts.name = "changing.bin"
        opts.progress = function(done, total)
          if not fired and done > 0 and done < total then
            fired = true
            act(path)
          end
        end
        local entry, err, detail = s:upload(1001, path, opts)
        assert.is_true(fired, "the progress function never ran mid-upload")
        return entry, err, detail
      end
      local function grow(path)
        local f = assert(io.open(path, "ab"))
        f:write(("+"):rep(100))
        f:close()
      end
      local function shrink(path)
        helper.sh("truncate -s 10 " .. q(path))
      end

      local cases = {
        { "growing, in chunks", 3 * CHUNK + 5, { chunk_size = CHUNK }, grow },
        { "shrinking, in chunks", 3 * CHUNK + 5, { chunk_size = CHUNK }, shrink },
        { "growing, in one request", 300000, {}, grow },
        { "shrinking, in one request", 300000, {}, shrink },
      }
      for _, case in ipairs(cases) do
        it(case[1], function()
          local chunks = portal:control("stats").chunks
          local entry, err, detail = upload_changing(case[2], case[3], case[4])
          assert.is_nil(entry)
          assert.equal("source", detail.kind)
          assert.matches("^upload source: ", err)
          assert.matches("changed size", err, 1, true)
          if case[3].chunk_size then
            -- The chunk sent before the change is the only one the portal got.
            assert.equal(chunks + 1, portal:control("stats").chunks)
          end
          assert.is_truthy(s:get("people/@self"))
        end)
      end
    end)

    describe("a reader", function()
      for _, chunked in ipairs({ false, true }) do
        local how = chunked and " (chunked)" or " (one request)"
        local function up(reader, size)
          return s:upload(1001, { reader = reader, size = size }, { name = "reader.bin", chunked = chunked,
            chunk_size = CHUNK })
        end

        it("that returns more than size bytes in one string fails" .. how, function()
          local entry, err, detail = up(reader_of({ "abcdefgh" }), 5)
          assert.is_nil(entry)
          assert.equal("source", detail.kind)
          assert.equal("upload source: the reader gave more than size bytes", err)
        end)

        it("that returns more than size bytes after size bytes fails" .. how, function()
          local entry, err, detail = up(reader_of({ "ab", "cde", "fgh" }), 5)
          assert.is_nil(entry, "the upload succeeded with " .. tostring(entry and entry.pureContentLength)
            .. " of 8 bytes")
          assert.equal("source", detail.kind)
          assert.equal("upload source: the reader gave more than size bytes", err)
        end)

        it("that returns more than size bytes over several chunks fails" .. how, function()
          local entry, err, detail = up(reader_of({ bytes(2 * CHUNK), bytes(2 * CHUNK) }), 3 * CHUNK)
          assert.is_nil(entry)
          assert.equal("source", detail.kind)
          assert.equal("upload source: the reader gave more than size bytes", err)
        end)

        it("may return empty strings, which carry no bytes" .. how, function()
          local entry, err = up(reader_of({ "", "abc", "", "de", "" }), 5)
          assert.is_nil(err)
          assert.equal(5, entry.pureContentLength)
          assert.equal("abcde", (download_string(s, entry.id)))
        end)

        it("that returns nil, \"boom\" fails with boom" .. how, function()
          local entry, err, detail = up(function()
            return nil, "boom"
          end, 10)
          assert.is_nil(entry)
          assert.equal("source", detail.kind)
          assert.matches("boom", err, 1, true)
          assert.is_truthy(s:get("people/@self"))
        end)

        it("that fails after some bytes fails with its message" .. how, function()
          local calls = 0
          local entry, err, detail = up(function()
            calls = calls + 1
            if calls == 1 then
              return bytes(CHUNK + 10)
            end
            return nil, "disk gone"
          end, 3 * CHUNK)
          assert.is_nil(entry)
          assert.equal("source", detail.kind)
          assert.equal("upload source: disk gone", err)
        end)

        it("that returns a number gives a clean error" .. how, function()
          local ok, entry, err, detail = pcall(up, function()
            return 42
          end, 10)
          if ok then
            assert.is_nil(entry)
            assert.equal("source", detail.kind)
            assert.matches("the reader must return strings", err, 1, true)
          else
            assert.matches("the reader must return strings", entry, 1, true)
          end
          assert.equal(helper.USER, s:get("people/@self").email)
        end)
      end
    end)
  end)

  describe("progress", function()
    local function upload_progress(source, opts)
      local seen, progress = recorder()
      opts.progress, opts.name = progress, "progress.bin"
      local entry, err = s:upload(1001, source, opts)
      assert.is_nil(err)
      return entry, seen
    end

    local sizes = { 0, 1, 3000, 3 * CHUNK + 5 }
    for _, size in ipairs(sizes) do
      for _, kind in ipairs({ "path", "data", "reader" }) do
        for _, chunked in ipairs({ false, true }) do
          it(("of an upload of %d bytes from a %s%s ends with done == total"):format(size, kind,
            chunked and ", chunked" or ""), function()
            local content = bytes(size, size)
            local source
            if kind == "path" then
              source = fresh_dir() .. "/up.bin"
              write_file(source, content)
            elseif kind == "data" then
              source = { data = content }
            else
              -- Two strings, neither empty (empty strings have specs of their own).
              source = { reader = reader_of({ size > 0 and content:sub(1, 100) or nil,
                size > 100 and content:sub(101) or nil }), size = size }
            end
            local entry, seen = upload_progress(source, { chunked = chunked, chunk_size = CHUNK })
            assert.equal(size, entry.pureContentLength)
            assert_progress(seen, size)
            if size == 0 then
              assert.same({ { 0, 0 } }, seen)
            end
          end)
        end
      end
    end

    for _, size in ipairs({ 0, 1, 200000 }) do
      for _, kind in ipairs({ "path", "sink" }) do
        it(("of a download of %d bytes to a %s ends with done == total"):format(size, kind), function()
          local content = bytes(size, 9)
          local id = uploaded(content).id
          local seen, progress = recorder()
          local n, got
          if kind == "path" then
            local target = fresh_dir() .. "/down.bin"
            n = assert(s:download(id, target, { progress = progress }))
            got = read_file(target)
          else
            local parts = {}
            n = assert(s:download(id, function(chunk)
              parts[#parts + 1] = chunk
            end, { progress = progress }))
            got = table.concat(parts)
          end
          assert.equal(size, n)
          if size > 0 then -- an empty file to a path has a spec of its own
            assert.is_true(got == content, "content differs")
          end
          assert_progress(seen, size)
          if size == 0 then
            assert.same({ { 0, 0 } }, seen)
          end
        end)
      end
    end

    it("of a chunked upload never goes back when a part is sent again after a re-login", function()
      -- Whether the refused part had already sent bytes when its 401 came is a
      -- race; the trace tells (the 401's byte count passes the part's offset).
      local size, chunk = 2 * 262144 + 5, 262144
      local resent, tries = false, 0
      local offset401
      local t = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, { trace = function(line)
        offset401 = tonumber(line:match("^< 401 %((%d+) bytes%)")) or offset401
      end }))
      while not resent and tries < 8 do
        tries = tries + 1
        offset401 = nil
        local logins = portal:logins()
        local content = bytes(size, tries)
        local seen, revoked = {}, false
        local entry, err = t:upload(1001, { data = content }, { name = "relogin.bin", chunk_size = chunk,
          progress = function(done, total)
            seen[#seen + 1] = { done, total }
            if not revoked and done >= chunk then
              revoked = true
              revoke(portal)
            end
          end })
        assert.is_nil(err)
        assert.equal(size, entry.pureContentLength)
        assert.equal(logins + 1, portal:logins())
        assert.is_number(offset401, "the second part was not refused")
        for i = 2, #seen do
          assert.is_true(seen[i][1] > seen[i - 1][1], ("progress went from %d to %d"):format(seen[i - 1][1],
            seen[i][1]))
        end
        assert_progress(seen, size)
        assert.is_true(download_string(t, entry.id) == content, "content differs")
        resent = offset401 > chunk
      end
      t:close()
      assert.is_true(resent, "no try sent part of a chunk before its 401")
    end)

    it("of a single upload never goes back when it is sent again after a re-login", function()
      local content = bytes(1000000, 4)
      local logins = portal:logins()
      revoke(portal)
      local seen = {}
      local entry, err = s:upload(1001, { data = content }, { name = "relogin1.bin", progress = function(done, total)
        seen[#seen + 1] = { done, total }
      end })
      assert.is_nil(err)
      assert.equal(#content, entry.pureContentLength)
      assert.equal(logins + 1, portal:logins())
      for i = 2, #seen do
        assert.is_true(seen[i][1] > seen[i - 1][1])
      end
      assert_progress(seen, #content)
    end)
  end)

  describe("errors raised by a callback come back to the caller with the callback's location,", function()
    local function check(ok, err, line, message)
      assert.is_false(ok)
      assert.equal(THIS_FILE .. ":" .. line .. ": " .. message, err)
      -- The session still works, for an API call and for a transfer.
      assert.equal(helper.USER, s:get("people/@self").email)
      local entry = assert(s:upload(1001, { data = "still fine" }, { name = "after.txt" }))
      assert.equal("still fine", (download_string(s, entry.id)))
    end

    it("from a download sink", function()
      local id = uploaded(bytes(50000)).id
      local line
      local ok, err = pcall(s.download, s, id, function()
        line = debug.getinfo(1, "l").currentline; error("sink is full")
      end)
      check(ok, err, line, "sink is full")
    end)

    it("from a download's progress function, to a path", function()
      local dir = fresh_dir()
      local id = uploaded(bytes(50000)).id
      local line
      local ok, err = pcall(s.download, s, id, dir .. "/p.bin", { progress = function()
        line = debug.getinfo(1, "l").currentline; error("progress says no")
      end })
      check(ok, err, line, "progress says no")
      assert.same({}, list_dir(dir))
    end)

    it("from an upload's progress function, in one request", function()
      local line
      local ok, err = pcall(s.upload, s, 1001, { data = bytes(100000) }, { name = "x.bin", progress = function()
        line = debug.getinfo(1, "l").currentline; error("stop here")
      end })
      check(ok, err, line, "stop here")
    end)

    it("from an upload's progress function, in the second chunk", function()
      local line
      local ok, err = pcall(s.upload, s, 1001, { data = bytes(3 * CHUNK) }, { name = "x.bin", chunk_size = CHUNK,
        progress = function(done)
          if done > CHUNK then
            line = debug.getinfo(1, "l").currentline; error("stop in chunk 2")
          end
        end })
      check(ok, err, line, "stop in chunk 2")
    end)

    for _, chunked in ipairs({ false, true }) do
      it("from a reader" .. (chunked and ", chunked" or ""), function()
        local line
        local ok, err = pcall(s.upload, s, 1001, { reader = function()
          line = debug.getinfo(1, "l").currentline; error("reader broke")
        end, size = 10 }, { name = "x.bin", chunked = chunked })
        check(ok, err, line, "reader broke")
      end)

      it("and a non-string error value comes back as it is" .. (chunked and ", chunked" or ""), function()
        local value = { reason = "a table" }
        local ok, err = pcall(s.upload, s, 1001, { reader = function()
          error(value)
        end, size = 10 }, { name = "x.bin", chunked = chunked })
        assert.is_false(ok)
        assert.equal(value, err)
        assert.equal(helper.USER, s:get("people/@self").email)
      end)
    end
  end)
end)
