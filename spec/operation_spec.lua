local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

local THIS_FILE = debug.getinfo(1, "S").short_src
local IN_USE = "session is in use (called from its own callback)"
local NOT_FOUND = "The folder was not found"

-- The entries of a zip of stored (method 0) entries, by walking its local headers.
local function unzip(bytes)
  local function le(pos, n)
    local v = 0
    for i = n, 1, -1 do
      v = v * 256 + bytes:byte(pos + i - 1)
    end
    return v
  end
  local entries, names, pos = {}, {}, 1
  while bytes:sub(pos, pos + 3) == "PK\3\4" do
    assert.equal(0, le(pos + 8, 2), "stored entries only")
    local size, name_len, extra = le(pos + 18, 4), le(pos + 26, 2), le(pos + 28, 2)
    local name = bytes:sub(pos + 30, pos + 29 + name_len)
    local start = pos + 30 + name_len + extra
    entries[name] = bytes:sub(start, start + size - 1)
    names[#names + 1] = name
    pos = start + size
  end
  assert.equal("PK\1\2", bytes:sub(pos, pos + 3), "the central directory follows the entries")
  assert.equal("PK\5\6", bytes:sub(-22, -19), "the archive ends with its end record")
  return entries, names
end

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then
      return true
    end
  end
  return false
end

describe("file operations", function()
  local portal, dir
  setup(function()
    portal = helper.start()
    dir = helper.sh("mktemp -d /tmp/onlyoffice-fileops.XXXXXX"):match("%S+")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf '" .. dir .. "'")
  end)

  local function mode(query)
    portal:control("fileops_mode", query)
  end

  local function terminated()
    return portal:control("fileops").terminated
  end

  for _, flavor in ipairs({ "docspace", "workspace" }) do
    describe("on " .. flavor, function()
      local s, lines
      before_each(function()
        mode()
        lines = {}
        s = assert(onlyoffice.login(portal[flavor], helper.USER, helper.PASSWORD,
          { trace = function(line) lines[#lines + 1] = line end }))
      end)
      after_each(function() s:close() end)

      local function uploaded(content, name)
        return assert(s:upload(1001, { data = content }, { name = name or "doc.txt" }))
      end

      local function copy_body(id, dest)
        return { fileIds = { id }, folderIds = onlyoffice.array {}, destFolderId = dest or 2001 }
      end

      it("copies with progress rising to 100, and the result lists the copies", function()
        local file = uploaded("copy me", "copy.txt")
        local seen = {}
        local op, err = s:operation("copy", copy_body(file.id), { progress = function(percent, o)
          seen[#seen + 1] = { percent = percent, type = o.type, id = o.id }
        end })
        assert.is_nil(err)
        assert.is_true(op.finished)
        assert.equal("copy", op.type)
        assert.equal(1, op.operation)
        assert.equal(flavor == "docspace" and "completed" or nil, op.state)
        assert.is_true(#seen >= 3)
        assert.equal(0, seen[1].percent)
        assert.equal(100, seen[#seen].percent)
        for i = 2, #seen do
          assert.is_true(seen[i].percent > seen[i - 1].percent)
          assert.equal(op.id, seen[i].id)
          assert.equal("copy", seen[i].type)
        end
        assert.equal(1, #op.files)
        local copy = op.files[1]
        assert.equal("copy.txt", copy.title)
        assert.equal(2001, copy.folderId)
        assert.are_not.equal(file.id, copy.id)
        local parts = {}
        assert(s:download(copy.id, function(chunk) parts[#parts + 1] = chunk end))
        assert.equal("copy me", table.concat(parts))
      end)

      it("moves a file into another folder", function()
        local file = uploaded("move me")
        local op = assert(s:operation("move", copy_body(file.id, 2002)))
        assert.equal("move", op.type)
        assert.equal(file.id, op.files[1].id)
        assert.equal(2002, assert(s:get("files/file/" .. file.id)).folderId)
      end)

      it("deletes a file", function()
        local file = uploaded("delete me")
        local op = assert(s:operation("delete", { fileIds = { file.id }, folderIds = onlyoffice.array {},
          immediately = true }))
        assert.equal("delete", op.type)
        local gone, _, detail = s:get("files/file/" .. file.id)
        assert.is_nil(gone)
        assert.equal(404, detail.status)
      end)

      it("returns the portal's error with the operation", function()
        local file = uploaded("nowhere to go")
        local op, err, detail = s:operation("copy", copy_body(file.id, 424242))
        assert.is_nil(op)
        assert.equal("operation copy failed: " .. NOT_FOUND, err)
        assert.equal("operation", detail.kind)
        assert.equal(NOT_FOUND, detail.error)
        assert.equal(NOT_FOUND, detail.operation.error)
        assert.is_true(detail.operation.finished)
        assert.equal("/api/2.0/files/fileops/copy", detail.path)
      end)

      it("terminates an operation that outlasts its timeout", function()
        mode({ slow = 1 })
        local file = uploaded("slow")
        local polls = portal:control("fileops").polls
        local op, err, detail = s:operation("copy", copy_body(file.id), { timeout = 0.5 })
        assert.is_nil(op)
        assert.equal("timeout", detail.kind)
        assert.matches("did not finish within 0.5 s; terminated", err, 1, true)
        assert.is_false(detail.operation.finished)
        assert.is_true(contains(terminated(), detail.operation.id))
        assert.is_true(portal:control("fileops").polls > polls)
        assert.equal("> PUT /api/2.0/files/fileops/terminate/" .. detail.operation.id, lines[#lines - 1])
      end)

      it("returns a failure for an operation someone else canceled", function()
        mode({ slow = 1 })
        local file = uploaded("canceled elsewhere")
        local other = assert(onlyoffice.login(portal[flavor], helper.USER, helper.PASSWORD))
        local op, err, detail = s:operation("copy", copy_body(file.id), { progress = function(percent, o)
          if percent > 0 then
            assert(other:put("files/fileops/terminate/" .. o.id))
          end
        end })
        other:close()
        mode()
        if flavor == "docspace" then -- status 3 (canceled) tells it, with an empty error
          assert.is_nil(op)
          assert.equal("operation", detail.kind)
          assert.equal("operation copy was canceled", err)
          assert.equal("canceled", detail.operation.state)
        else -- no status before 3.7.1: a finished operation without an error is all there is
          assert.is_nil(err)
          assert.is_true(op.finished)
        end
      end)

      it("terminates the operation when progress raises, raises its error, and stays usable", function()
        mode({ slow = 1 })
        local file = uploaded("stop me")
        local line, id
        local ok, err = pcall(s.operation, s, "copy", copy_body(file.id), { progress = function(percent, o)
          id = o.id
          if percent > 0 then
            line = debug.getinfo(1, "l").currentline; error("enough")
          end
        end })
        assert.is_false(ok)
        assert.equal(THIS_FILE .. ":" .. line .. ": enough", err)
        assert.is_true(contains(terminated(), id))
        mode()
        assert.equal(helper.USER, assert(s:get("people/@self")).email)
        assert.is_true(assert(s:operation("copy", copy_body(file.id))).finished)
      end)

      it("raises 'session is in use' when progress calls the session, and terminates", function()
        local file = uploaded("re-enter")
        local line, id
        local ok, err = pcall(s.operation, s, "copy", copy_body(file.id), { progress = function(_, o)
          id = o.id
          line = debug.getinfo(1, "l").currentline + 1
          local me = s:get("people/@self")
          return me
        end })
        assert.is_false(ok)
        assert.equal(THIS_FILE .. ":" .. line .. ": " .. IN_USE, err)
        assert.is_true(contains(terminated(), id))
        assert.equal(helper.USER, assert(s:get("people/@self")).email)
      end)

      it("logs in again when the token is revoked mid-poll", function()
        local file = uploaded("revoked")
        local before = portal:logins(helper.USER, flavor)
        local revoked = false
        local op = assert(s:operation("copy", copy_body(file.id), { progress = function(percent)
          if percent > 0 and not revoked then
            revoked = true
            portal:control("revoke", { user = helper.USER })
          end
        end }))
        assert.is_true(revoked)
        assert.is_true(op.finished)
        assert.equal(before + 1, portal:logins(helper.USER, flavor))
      end)

      for _, status in ipairs({ 429, 503 }) do
        it("retries polls answered " .. status, function()
          local file = uploaded("flaky")
          mode({ fail = 2, status = status })
          local op = assert(s:operation("copy", copy_body(file.id)))
          assert.is_true(op.finished)
          local refused = 0
          for _, l in ipairs(lines) do
            refused = refused + (l:match("^< " .. status) and 1 or 0)
          end
          assert.equal(2, refused)
        end)
      end

      it("picks out its own operation while another one of the user runs", function()
        mode({ slow = 1 })
        local first = uploaded("first", "first.txt")
        local body = copy_body(first.id)
        body.returnSingleOperation = true -- Workspace ignores it and lists all, newest first
        local other_id = assert(s:put("files/fileops/copy", body))[1].id
        mode()
        local second = uploaded("second", "second.txt")
        local op = assert(s:operation("copy", copy_body(second.id)))
        assert.are_not.equal(other_id, op.id)
        assert.equal("second.txt", op.files[1].title)
        assert(s:put("files/fileops/terminate/" .. other_id))
      end)

      it("bulk-downloads to a path and to a sink, the same archive", function()
        local a, b = uploaded("alpha bytes\0\255", "alpha.bin"), uploaded(("beta "):rep(5000), "beta.txt")
        local percents, transfer = {}, {}
        local path = dir .. "/" .. flavor .. ".zip"
        local n, err = s:bulk_download({ files = { a.id }, convert = { [b.id] = ".pdf" } }, path, {
          progress = function(percent, o)
            assert.equal("download", o.type)
            percents[#percents + 1] = percent
          end,
          transfer_progress = function(done, total) transfer[#transfer + 1] = { done, total } end,
        })
        assert.is_nil(err)
        local bytes = helper.read_file(path)
        assert.equal(#bytes, n)
        assert.equal(100, percents[#percents])
        assert.same({ n, n }, transfer[#transfer])
        local entries, names = unzip(bytes)
        assert.same({ "alpha.bin", "beta.pdf" }, names)
        assert.equal("alpha bytes\0\255", entries["alpha.bin"])
        assert.equal(("beta "):rep(5000), entries["beta.pdf"])

        local parts, ended = {}, false
        local m = assert(s:bulk_download({ files = { a.id }, convert = { [b.id] = ".pdf" } }, function(chunk, e)
          assert.is_nil(e)
          if chunk then
            parts[#parts + 1] = chunk
          else
            ended = true
          end
          return 1
        end))
        assert.is_true(ended)
        assert.equal(n, m)
        assert.equal(bytes, table.concat(parts)) -- the emulator writes stable archives
      end)

      it("bulk-downloads a folder's files", function()
        local folder = assert(s:post("files/folder/1001", { title = "Packed" }))
        assert(s:upload(folder.id, { data = "inside" }, { name = "in.txt" }))
        local parts = {}
        assert(s:bulk_download({ folders = { folder.id } }, function(chunk)
          parts[#parts + 1] = chunk
          return 1
        end))
        local entries = unzip(table.concat(parts))
        assert.equal("inside", entries["folder-" .. folder.id .. "/in.txt"])
      end)

      it("tells a sink that the operation failed, and writes no file", function()
        local heard
        local n, err, detail = s:bulk_download({ files = { 777777 } }, function(chunk, e)
          heard = { chunk, e }
          return 1
        end)
        assert.is_nil(n)
        assert.equal("operation", detail.kind)
        assert.same({ nil, err }, heard)
        assert.is_nil(s:bulk_download({ files = { 777777 } }, dir .. "/never.zip"))
        assert.is_nil(helper.read_file(dir .. "/never.zip"))
      end)

      it("serves an archive only to the user who made it", function()
        local file = uploaded("mine only")
        local op = assert(s:operation("bulkdownload", { fileIds = { file.id } }))
        local where = op.url:match("^%a+://[^/]+(/.*)$") or op.url
        assert.matches("filehandler.ashx?action=bulk&filename=", where, 1, true)
        assert.is_string(assert(s:get(where)))
        local other = assert(onlyoffice.login(portal[flavor], "throttle@example.com", helper.PASSWORD))
        local data, _, detail = other:get(where)
        other:close()
        assert.is_nil(data)
        assert.equal(404, detail.status)
        local stranger = onlyoffice.session(portal[flavor], "not-a-token-at-all")
        data, _, detail = stranger:get(where)
        stranger:close()
        assert.is_nil(data)
        assert.equal(401, detail.status)
      end)
    end)
  end

  it("asks DocSpace for the user's operations only until it knows returnSingleOperation works", function()
    local lines = {}
    local s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD,
      { trace = function(line) lines[#lines + 1] = line end }))
    local file = assert(s:upload(1001, { data = "x" }, { name = "x.txt" }))
    local function listings()
      local n = 0
      for _, l in ipairs(lines) do
        n = n + (l == "> GET /api/2.0/files/fileops" and 1 or 0)
      end
      return n
    end
    local body = { fileIds = { file.id }, folderIds = onlyoffice.array {}, destFolderId = 2001 }
    assert(s:operation("copy", body))
    assert.equal(1, listings())
    assert(s:operation("copy", body))
    assert.equal(1, listings())
    s:close()
  end)

  describe("programmer mistakes raise at the caller's line", function()
    local s
    setup(function() s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD)) end)
    teardown(function() s:close() end)

    -- fn makes the call on its first line, or on the next one with `below`.
    local function raises(pattern, fn, below)
      local line = debug.getinfo(fn, "S").linedefined + (below and 1 or 0)
      local ok, err = pcall(fn)
      assert.is_false(ok)
      assert.matches(pattern, err, 1, true)
      assert.equal(THIS_FILE .. ":" .. line .. ":", err:match("^[^:]+:%d+:"))
    end

    it("for the kind, the body and the options", function()
      raises("plain word", function() s:operation("copy/../x", {}) end)
      raises("plain word", function() s:operation(nil, {}) end)
      raises("starts none", function() s:operation("terminate", {}) end)
      raises("body must be a table", function() s:operation("copy", "fileIds=1") end)
      raises("cannot be encoded as JSON", function() s:operation("copy", { f = function() end }) end)
      raises('unknown option "interval"', function() s:operation("copy", {}, { interval = 1 }) end)
      raises('option "timeout" must be', function() s:operation("copy", {}, { timeout = 0 }) end)
      raises('option "progress" must be a function', function() s:operation("copy", {}, { progress = 1 }) end)
    end)

    it("for bulk download items, targets and options", function()
      raises("items must be a table", function() s:bulk_download(nil, "/tmp/x") end)
      raises("unknown items field", function() s:bulk_download({ file = { 1 } }, "/tmp/x") end)
      raises("name no file", function() s:bulk_download({}, "/tmp/x") end)
      raises("items.files[2]", function() s:bulk_download({ files = { 1, {} } }, "/tmp/x") end)
      raises("extension", function() s:bulk_download({ convert = { [1] = "pdf" } }, "/tmp/x") end)
      raises("target must be", function() s:bulk_download({ files = { 1 } }, 7) end)
      raises('unknown option "progres"', function()
        s:bulk_download({ files = { 1 } }, "/tmp/x", { progres = print })
      end, true)
      raises("transfer_timeout", function() s:bulk_download({ files = { 1 } }, "/tmp/x", { transfer_timeout = -1 }) end)
    end)
  end)
end)
