-- The one request pipeline: redirects, trace, batches, response headers, the
-- kinds of failure, redaction, numbers on the way out, option checks and paging,
-- each checked against what the emulator saw (its per-route counters and the
-- headers it recorded), not only against what the module returned.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

local has_socket, socket = pcall(require, "socket")

-- Wall-clock time with sub-second resolution.
local function now()
  if has_socket and socket.gettime then
    return socket.gettime()
  end
  return tonumber(helper.sh("date +%s.%N"))
end

-- A download sink that keeps the chunks: sink, parts.
local function collector()
  local parts = {}
  return function(chunk)
    if chunk then
      parts[#parts + 1] = chunk
    end
    return true
  end, parts
end

-- Every string in v (keys included), for "no secret anywhere" checks.
local function strings_in(v, out, depth)
  out, depth = out or {}, depth or 0
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and depth < 50 then
    for k, item in pairs(v) do
      strings_in(k, out, depth + 1)
      strings_in(item, out, depth + 1)
    end
  end
  return out
end

local function url_encode(s, lower)
  return (s:gsub("[^A-Za-z0-9%-%._~]", function(c)
    return string.format(lower and "%%%02x" or "%%%02X", c:byte())
  end))
end

-- A token of our own: longer than 8 bytes, with the '+' and '/' that URL
-- encoding (%2B, %2F) and JSON escaping (\/) change.
local TOKEN = "tok-SECRET+/0123456789abcdef"
local TOKEN_FORMS = { TOKEN, url_encode(TOKEN), url_encode(TOKEN, true), (TOKEN:gsub("/", "\\/")) }

local function assert_no_token(v, forms)
  for _, text in ipairs(strings_in(v)) do
    for _, form in ipairs(forms or TOKEN_FORMS) do
      assert.is_nil(text:find(form, 1, true), "a form of the secret in: " .. text)
    end
    -- Nor a piece of it that a cut left behind.
    assert.is_nil(text:find("tok-SEC", 1, true), "a piece of the token in: " .. text)
  end
end

local function port_of(url)
  return url:match(":(%d+)$")
end

describe("the request pipeline", function()
  local portal, s
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)

  local function login(opts, flavor)
    opts = opts or {}
    opts.timeout = opts.timeout or 10
    return assert(onlyoffice.login(portal[flavor or "docspace"], helper.USER, helper.PASSWORD, opts))
  end

  -- Requests per "METHOD /path" the emulator served on a flavor's server (or a port).
  local function hits(flavor, port)
    return portal:control("hits", port and { port = port } or nil, flavor).hits
  end

  -- The headers of the last request on path (a file handler or /__public/<id>).
  local function seen(path, flavor, port)
    return portal:control("seen", { path = path, port = port }, flavor).headers
  end

  -- A file on the portal with these bytes; its id.
  local function stored(data)
    local entry = assert(s:upload(1001, { data = data }, { name = "stored.txt" }))
    return entry.id
  end

  before_each(function()
    portal:reset()
    s = login()
  end)
  after_each(function() s:close() end)

  describe("redirects", function()
    local function to_echo(code, mark)
      return { to = "/api/2.0/emu/echo" .. (mark and ("?case=" .. mark) or ""), code = code }
    end

    it("a POST answered 303 is sent once, then one GET; the result is the GET's", function()
      local e = assert(s:post("emu/redirect", { title = "x" }, to_echo(303, "a")))
      assert.equal("GET", e.method)
      assert.equal("", e.body)
      assert.equal("/api/2.0/emu/echo?case=a", e.uri)
      assert.is_nil(e.headers["content-type"])
      assert.equal(s:token(), e.headers.authorization)
      local h = hits()
      assert.equal(1, h["POST /api/2.0/emu/redirect"])
      assert.equal(1, h["GET /api/2.0/emu/echo"])
      assert.is_nil(h["POST /api/2.0/emu/echo"])
      assert.is_nil(h["GET /api/2.0/emu/redirect"])
    end)

    for _, code in ipairs({ 307, 308 }) do
      for _, method in ipairs({ "POST", "PUT", "PATCH" }) do
        it(method .. " answered " .. code .. " keeps its method, body and headers", function()
          local e = assert(s:request(method, "emu/redirect", { query = to_echo(code), body = { title = "x" },
            headers = { ["X-Hop"] = "kept" } }))
          assert.equal(method, e.method)
          assert.equal('{"title":"x"}', e.body)
          assert.equal("application/json", e.headers["content-type"])
          assert.equal("kept", e.headers["x-hop"])
          local h = hits()
          assert.equal(1, h[method .. " /api/2.0/emu/redirect"])
          assert.equal(1, h[method .. " /api/2.0/emu/echo"])
          assert.is_nil(h["GET /api/2.0/emu/echo"])
        end)
      end
    end

    for _, code in ipairs({ 301, 302 }) do
      it("a POST answered " .. code .. " goes on as a GET without the body", function()
        local e = assert(s:post("emu/redirect", { title = "x" }, to_echo(code)))
        assert.equal("GET", e.method)
        assert.equal("", e.body)
        assert.is_nil(e.headers["content-type"])
        local h = hits()
        assert.equal(1, h["POST /api/2.0/emu/redirect"])
        assert.equal(1, h["GET /api/2.0/emu/echo"])
        assert.is_nil(h["POST /api/2.0/emu/echo"])
      end)
    end

    it("inside a batch follow the same rules, and no POST is sent twice", function()
      local list = {}
      for i, code in ipairs({ 303, 307, 308, 301, 302 }) do
        list[i] = { "POST", "emu/redirect", query = to_echo(code, code), body = { code = code } }
      end
      local lines = {}
      local t = onlyoffice.session(portal.docspace, s:token(), { trace = function(l) lines[#lines + 1] = l end })
      local results = t:batch(list)
      t:close()
      assert.equal(5, results.n)
      local posts = 0
      for _, line in ipairs(lines) do
        if line:find("^> POST /api/2%.0/emu/redirect") then
          posts = posts + 1
        end
      end
      assert.equal(5, posts)
      assert.equal(20, #lines) -- five requests and their answers, five hops and theirs
      local want = { [303] = "GET", [307] = "POST", [308] = "POST", [301] = "GET", [302] = "GET" }
      for i, code in ipairs({ 303, 307, 308, 301, 302 }) do
        local e = assert(results[i][1], results[i][2])
        assert.equal(want[code], e.method, "case " .. code)
        assert.equal("/api/2.0/emu/echo?case=" .. code, e.uri)
        assert.equal(want[code] == "POST" and ('{"code":' .. code .. "}") or "", e.body, "case " .. code)
      end
      local h = hits()
      assert.equal(5, h["POST /api/2.0/emu/redirect"])
      assert.equal(2, h["POST /api/2.0/emu/echo"])
      assert.equal(3, h["GET /api/2.0/emu/echo"])
    end)

    for _, code in ipairs({ 302, 303, 307 }) do
      it("HEAD answered " .. code .. " stays HEAD", function()
        local data, info = s:request("HEAD", "emu/redirect", { query = to_echo(code) })
        assert.equal("", data)
        assert.equal(200, info.status)
        local h = hits()
        assert.equal(1, h["HEAD /api/2.0/emu/redirect"])
        assert.equal(1, h["HEAD /api/2.0/emu/echo"])
        assert.is_nil(h["GET /api/2.0/emu/echo"])
      end)
    end

    it("are bounded: a loop ends after five followed hops with kind redirect", function()
      local data, err, detail = s:get("emu/redirect", { loop = 1 })
      assert.is_nil(data)
      assert.matches("^too many redirects", err)
      assert.equal("redirect", detail.kind)
      assert.equal(302, detail.status)
      assert.equal(6, hits()["GET /api/2.0/emu/redirect"])
    end)

    it("to the portal's origin spelt in capitals are followed", function()
      local upper = portal.docspace:upper() .. "/api/2.0/emu/echo"
      local e = assert(s:get("emu/redirect", { to = upper }))
      assert.equal("GET", e.method)
      assert.equal(s:token(), e.headers.authorization)
    end)

    it("of an API call to another origin are refused, and nothing reaches it", function()
      for _, case in ipairs({
        { "POST", portal.workspace .. "/api/2.0/emu/echo", 307 },
        { "GET", portal.workspace .. "/api/2.0/emu/echo", 302 },
        { "GET", portal.docspace:gsub("127%.0%.0%.1", "localhost") .. "/api/2.0/emu/echo", 302 },
      }) do
        local data, err, detail = s:request(case[1], "emu/redirect", { query = { to = case[2], code = case[3] },
          body = case[1] == "POST" and { a = 1 } or nil })
        assert.is_nil(data)
        assert.matches("redirected outside the portal", err, 1, true)
        assert.equal("redirect", detail.kind)
        assert.equal(case[2], detail.location)
        assert.equal(case[3], detail.status)
        assert.equal(case[1], detail.method)
      end
      assert.is_nil(next(hits("workspace")))
      assert.is_nil(hits()["GET /api/2.0/emu/echo"])
    end)

    for _, code in ipairs({ 302, 303, 307 }) do
      it("of a download to another origin (" .. code .. ") carry no Authorization, Cookie or session headers",
        function()
          local d = login({ headers = { ["X-Api-Key"] = "k-SECRET" } })
          local id = stored("bytes kept elsewhere")
          local public = "/__public/" .. id
          portal:control("storage", { to = portal.workspace .. public, code = code })
          local sink, parts = collector()
          local n, err = d:download(999997, sink)
          assert.equal(20, n, err)
          assert.equal("bytes kept elsewhere", table.concat(parts))
          -- The portal's file handler got the credentials and the extra header...
          local here = seen("/filehandler.ashx")
          assert.equal(d:token(), here.authorization)
          assert.equal("k-SECRET", here["x-api-key"])
          -- ...the other origin none of them.
          local there = assert(seen(public, "workspace"))
          assert.is_nil(there.authorization)
          assert.is_nil(there.cookie)
          assert.is_nil(there["x-api-key"])
          assert.equal(1, hits("workspace")["GET " .. public])
          d:close()
        end)
    end

    for _, code in ipairs({ 303, 307 }) do
      it("answered " .. code .. " then 401: the re-login repeats the hop, never the original POST", function()
        portal:control("revoke", { user = helper.USER })
        local e = assert(s:post("emu/redirect", { a = 1 }, to_echo(code)))
        assert.equal(code == 303 and "GET" or "POST", e.method)
        assert.equal(s:token(), e.headers.authorization)
        local h = hits()
        assert.equal(1, h["POST /api/2.0/emu/redirect"])
        assert.equal(2, h[e.method .. " /api/2.0/emu/echo"])
        assert.equal(2, h["POST /api/2.0/authentication"])
      end)
    end

    it("stay below the base URL's path", function()
      local t = onlyoffice.session(portal.docspace .. "/api", s:token(), { timeout = 10 })
      local e = assert(t:get("/2.0/emu/redirect", { to = "/api/2.0/emu/echo" }))
      assert.equal("/api/2.0/emu/echo", e.uri)
      local data, err, detail = t:get("/2.0/emu/redirect", { to = "/apix/2.0/emu/echo" })
      assert.is_nil(data)
      assert.matches("redirected outside the portal", err, 1, true)
      assert.equal("redirect", detail.kind)
      t:close()
      assert.is_nil(hits()["GET /apix/2.0/emu/echo"])
    end)

    it("of a download to another origin show in the trace with the token redacted", function()
      local lines = {}
      local d = login({ trace = function(line) lines[#lines + 1] = line end })
      local id = stored("traced bytes")
      local target = portal.workspace .. "/__public/" .. id .. "?t=" .. d:token()
      portal:control("storage", { to = target, code = 302 })
      local sink = collector()
      assert.equal(12, d:download(999997, sink))
      d:close()
      local all = table.concat(lines, "\n")
      assert.matches("> GET " .. portal.workspace .. "/__public/" .. id .. "?t=***", all, 1, true)
      assert.is_nil(all:find(target, 1, true))
    end)

    describe("from https", function()
      local function https_session(base)
        return assert(onlyoffice.login(base, helper.USER, helper.PASSWORD, { cafile = portal.cafile, timeout = 10 }))
      end

      for _, scheme in ipairs({ "https", "Https", "HTTPS" }) do
        it("to http are refused for downloads, with a base URL written " .. scheme .. "://", function()
          local id = stored("plain text over http")
          local target = portal.docspace .. "/__public/" .. id
          portal:control("storage", { to = target, code = 302 })
          local t = https_session(scheme .. portal.https:sub(6))
          local sink, parts = collector()
          local n, err, detail = t:download(999997, sink)
          assert.is_nil(n)
          assert.matches("from https to http", err, 1, true)
          assert.equal("redirect", detail.kind)
          assert.equal(target, detail.location)
          assert.equal(0, #parts)
          assert.is_nil(hits()["GET /__public/" .. id])
          t:close()
        end)

        it("to http are refused for API calls, with a base URL written " .. scheme .. "://", function()
          local t = https_session(scheme .. portal.https:sub(6))
          -- The same host and port, only the scheme changed.
          local target = "http://127.0.0.1:" .. port_of(portal.https) .. "/api/2.0/emu/echo"
          local data, _, detail = t:get("emu/redirect", { to = target })
          assert.is_nil(data)
          assert.equal("redirect", detail.kind)
          assert.equal(target, detail.location)
          t:close()
        end)
      end
    end)
  end)

  describe("trace", function()
    local function traced(opts)
      local lines = {}
      opts = opts or {}
      opts.trace = function(line) lines[#lines + 1] = line end
      return lines, opts
    end

    local function count(lines, prefix)
      local n = 0
      for _, line in ipairs(lines) do
        if line:sub(1, #prefix) == prefix then
          n = n + 1
        end
      end
      return n
    end

    it("shows each request of a batch of three and each answer", function()
      local lines, opts = traced()
      local t = onlyoffice.session(portal.docspace, s:token(), opts)
      local results = t:batch({ { "GET", "people/@self" }, { "GET", "emu/echo", query = { i = 2 } },
        { "POST", "emu/echo", body = { i = 3 } } })
      t:close()
      assert.equal(3, results.n)
      assert.equal(6, #lines)
      assert.equal(3, count(lines, "> "))
      assert.equal(3, count(lines, "< "))
      local sent = {}
      for _, line in ipairs(lines) do
        sent[line] = true
      end
      assert.is_true(sent["> GET /api/2.0/people/@self"])
      assert.is_true(sent["> GET /api/2.0/emu/echo?i=2"])
      assert.is_true(sent["> POST /api/2.0/emu/echo"])
      for _, line in ipairs(lines) do
        if line:sub(1, 2) == "< " then
          assert.matches("^< 200 %(%d+ bytes%)$", line)
        end
      end
    end)

    it("shows both hops of a redirect", function()
      local lines, opts = traced()
      local t = onlyoffice.session(portal.docspace, s:token(), opts)
      assert(t:get("emu/redirect", { to = "/api/2.0/emu/echo" }))
      t:close()
      assert.equal(4, #lines, table.concat(lines, "\n"))
      assert.equal("> GET /api/2.0/emu/redirect?to=%2Fapi%2F2.0%2Femu%2Fecho", lines[1])
      assert.matches("^< 302 ", lines[2])
      assert.equal("> GET /api/2.0/emu/echo", lines[3])
      assert.matches("^< 200 ", lines[4])
    end)

    it("marks the login and a re-login, and never shows the password", function()
      local lines, opts = traced()
      local t = login(opts)
      portal:control("revoke", { user = helper.USER })
      assert(t:get("people/@self"))
      t:close()
      assert.equal("> POST /api/2.0/authentication (login)", lines[1])
      assert.matches("^< 200 ", lines[2])
      assert.equal("> GET /api/2.0/people/@self", lines[3])
      assert.equal("< 401 (0 bytes)", lines[4])
      assert.equal("> POST /api/2.0/authentication (login)", lines[5])
      assert.equal("> GET /api/2.0/people/@self", lines[7])
      assert.equal(8, #lines)
      local all = table.concat(lines, "\n")
      assert.is_nil(all:find(helper.PASSWORD, 1, true))
    end)

    it("never shows a two-factor code", function()
      local lines, opts = traced({ code = "123456" })
      local t = assert(onlyoffice.login(portal.docspace, "tfa@example.com", helper.PASSWORD, opts))
      t:close()
      local all = table.concat(lines, "\n")
      assert.is_nil(all:find("123456", 1, true), all)
      assert.is_nil(all:find(helper.PASSWORD, 1, true), all)
      assert.equal("> POST /api/2.0/authentication (login)", lines[1])
      assert.equal("> POST /api/2.0/authentication/<code> (login)", lines[3])
      -- A wrong code neither.
      local wrong, wopts = traced({ code = "000000" })
      assert.is_nil(onlyoffice.login(portal.docspace, "tfa@example.com", helper.PASSWORD, wopts))
      assert.is_nil(table.concat(wrong, "\n"):find("000000", 1, true))
      assert.equal(4, #wrong)
    end)
  end)

  describe("batch results", function()
    it("have n, and each result ok and n; a failure carries detail.kind", function()
      local results = s:batch({
        { "GET", "people/@self" },
        { "GET", "files/file/1" },
        { "GET", "emu/truncated" },
        { method = "PATCH", path = "emu/echo", body = { p = 1 } },
        { "GET", "emu/redirect", query = { loop = 1 } },
      })
      assert.equal(5, results.n)
      assert.is_true(results[1].ok)
      assert.equal(2, results[1].n)
      assert.equal(helper.USER, results[1][1].email)
      assert.equal(200, results[1][2].status)
      for i, kind in pairs({ [2] = "http", [3] = "json", [5] = "redirect" }) do
        assert.is_false(results[i].ok)
        assert.equal(3, results[i].n)
        assert.is_nil(results[i][1])
        assert.equal("string", type(results[i][2]))
        assert.equal(kind, results[i][3].kind)
        assert.equal("GET", results[i][3].method)
      end
      assert.equal(404, results[2][3].status)
      assert.equal("PATCH", results[4][1].method)
      assert.equal('{"p":1}', results[4][1].body)
      assert.equal(0, s:batch({}).n)
    end)
  end)

  describe("headers", function()
    it("of an answer are in info.headers with lower-case names", function()
      local _, info = assert(s:get("emu/echo"))
      assert.matches("^application/json", info.headers["content-type"])
      assert.is_nil(info.headers["Content-Type"])
      for name in pairs(info.headers) do
        assert.equal(name:lower(), name)
      end
    end)

    it("of a failure are in detail.headers", function()
      local data, _, detail = s:get("files/file/1")
      assert.is_nil(data)
      assert.equal("http", detail.kind)
      assert.matches("^application/json", detail.headers["content-type"])
      for name in pairs(detail.headers) do
        assert.equal(name:lower(), name)
      end
    end)

    it("with an empty value raise, in the session, a request and a batch", function()
      local cases = {
        function() onlyoffice.session(portal.docspace, "tok-0123456789", { headers = { ["X-Tenant"] = "" } }) end,
        function() s:request("GET", "emu/echo", { headers = { ["X-Tenant"] = "" } }) end,
        function() s:request("GET", "emu/echo", { headers = { ["X-Tenant"] = "  " } }) end,
        function() s:batch({ { "GET", "emu/echo", headers = { ["User-Agent"] = "" } } }) end,
      }
      for i, case in ipairs(cases) do
        local ok, msg = pcall(case)
        assert.is_false(ok, "case " .. i)
        assert.matches("must not be empty", msg, 1, true)
        if i < 4 then -- batch items: see "batch item mistakes raise at the caller's line"
          assert.matches("pipeline_spec.lua", msg, 1, true)
        end
      end
      assert.is_nil(hits()["GET /api/2.0/emu/echo"])
    end)

    it("PATCH carries its body", function()
      local e = assert(s:request("PATCH", "emu/echo", { body = { a = 1 } }))
      assert.equal("PATCH", e.method)
      assert.equal('{"a":1}', e.body)
      assert.equal("application/json", e.headers["content-type"])
    end)
  end)

  describe("detail.kind", function()
    it("http for a 404", function()
      local data, _, detail = s:get("files/file/1")
      assert.is_nil(data)
      assert.equal("http", detail.kind)
      assert.equal(404, detail.status)
      assert.equal("GET", detail.method)
      assert.equal("/api/2.0/files/file/1", detail.path)
    end)

    it("network for a closed port", function()
      local t = onlyoffice.session(helper.CLOSED_URL, "tok-0123456789", { timeout = 10 })
      local data, err, detail = t:get("people/@self")
      t:close()
      assert.is_nil(data)
      assert.matches("^network error", err)
      assert.equal("network", detail.kind)
      assert.equal(7, detail.curl_code)
    end)

    it("timeout for an answer slower than the timeout", function()
      local t = onlyoffice.session(portal.docspace, s:token(), { timeout = 0.3 })
      local data, _, detail = t:get("emu/slow", { ms = 2000 })
      t:close()
      assert.is_nil(data)
      assert.equal("timeout", detail.kind)
      assert.equal(28, detail.curl_code)
    end)

    it("tls for a certificate from an unknown CA", function()
      local t = onlyoffice.session(portal.https, "tok-0123456789", { timeout = 10 })
      local data, err, detail = t:get("people/@self")
      t:close()
      assert.is_nil(data)
      assert.matches("^TLS error", err)
      assert.equal("tls", detail.kind)
    end)

    it("json for broken JSON in a 2xx", function()
      local data, _, detail = s:get("emu/truncated")
      assert.is_nil(data)
      assert.equal("json", detail.kind)
      assert.equal(200, detail.status)
    end)

    it("closed for a closed session", function()
      local t = login()
      t:close()
      local data, err, detail = t:get("people/@self")
      assert.is_nil(data)
      assert.equal("session is closed", err)
      assert.equal("closed", detail.kind)
    end)

    it("io for a download into a directory that does not exist", function()
      local id = stored("some bytes")
      local n, err, detail = s:download(id, "/nonexistent-onlyoffice-dir/out.bin")
      assert.is_nil(n)
      assert.equal("io", detail.kind)
      assert.equal(2, detail.errno) -- ENOENT
      assert.matches("^cannot write /nonexistent%-onlyoffice%-dir/out%.bin", err)
      assert.is_nil(err:find("network", 1, true))
    end)

    it("redirect for a refused redirect", function()
      local data, _, detail = s:get("emu/redirect", { to = portal.workspace .. "/x" })
      assert.is_nil(data)
      assert.equal("redirect", detail.kind)
      assert.equal(portal.workspace .. "/x", detail.location)
    end)

    it("too_large above max_body", function()
      local t = onlyoffice.session(portal.docspace, s:token(), { max_body = 1000 })
      local data, err, detail = t:get("files/@my")
      assert.is_nil(data)
      assert.equal("too_large", detail.kind)
      assert.matches("max_body", err, 1, true)
      assert.is_truthy(t:get("emu/plainjson"))
      t:close()
    end)

    describe("login, when the re-login fails", function()
      -- Six wrong passwords block the user's logins; then the token is revoked.
      local function block_and_revoke()
        for i = 1, 6 do
          assert.is_nil(onlyoffice.login(portal.docspace, helper.USER, "wrong-password-" .. i))
        end
        portal:control("revoke", { user = helper.USER })
      end

      local function assert_login_failure(err, detail)
        assert.equal("string", type(err))
        assert.matches("^login failed: HTTP 403", err)
        assert.is_nil(err:find("network", 1, true))
        assert.equal("login", detail.kind)
        assert.equal(403, detail.status)
        assert.is_nil(detail.curl_code)
      end

      it("in a get", function()
        block_and_revoke()
        local data, err, detail = s:get("people/@self")
        assert.is_nil(data)
        assert_login_failure(err, detail)
      end)

      it("in an upload, in one request or in chunks", function()
        block_and_revoke()
        for _, chunked in ipairs({ false, true }) do
          local entry, err, detail = s:upload(1001, { data = "x" }, { name = "x.txt", chunked = chunked })
          assert.is_nil(entry)
          assert_login_failure(err, detail)
        end
      end)

      it("in a download", function()
        local id = stored("download me")
        block_and_revoke()
        local sink = collector()
        local n, err, detail = s:download(id, sink)
        assert.is_nil(n)
        assert_login_failure(err, detail)
      end)

      it("in a batch", function()
        block_and_revoke()
        local results = s:batch({ { "GET", "people/@self" }, { "POST", "emu/echo", body = { a = 1 } } })
        assert.equal(2, results.n)
        for i = 1, 2 do
          assert.is_false(results[i].ok)
          assert_login_failure(results[i][2], results[i][3])
        end
      end)
    end)
  end)

  describe("redaction", function()
    local function failed_login(user, password, flavor)
      local t, err, detail = onlyoffice.login(portal[flavor or "docspace"], user, password, { timeout = 10 })
      assert.is_nil(t)
      return err, detail
    end

    it("a long wrong password gives the portal's words", function()
      local err, detail = failed_login("nobody@example.com", "definitely-wrong-password")
      assert.equal("login failed: HTTP 401: User authentication failed", err)
      assert.equal("login", detail.kind)
      assert.equal(401, detail.status)
    end)

    for _, password in ipairs({ "failed", "HTTP", "e", "login", "401" }) do
      it("a short wrong password that is a word of the message (" .. password .. ") does not show", function()
        local err, detail = failed_login("nobody@example.com", password)
        assert.equal("login failed: HTTP 401", err)
        assert.equal("login", detail.kind)
        assert.equal(401, detail.status)
        err = failed_login("nobody@example.com", password, "workspace")
        assert.equal("login failed: HTTP 500", err)
      end)
    end

    it("a short wrong password leaves no server text in the detail either (error and body absent)", function()
      local _, detail = failed_login("nobody@example.com", "failed")
      assert.is_nil(detail.body)
      assert.is_nil(detail.error)
      _, detail = failed_login("nobody@example.com", "failed", "workspace")
      assert.is_nil(detail.body)
      assert.is_nil(detail.error)
    end)

    it("drops the portal's text whole when it holds the password, in any form", function()
      local err, detail = failed_login("echo@example.com", "long-password-123")
      assert.equal("login failed: HTTP 401", err)
      assert.is_nil(detail.error)
      assert.is_nil(detail.body)
      local t = login()
      for _, form in ipairs({ helper.PASSWORD, url_encode(helper.PASSWORD) }) do
        local data, lerr, ldetail = t:post("emu/leak", "p=" .. form)
        assert.is_nil(data)
        assert.equal("POST /api/2.0/emu/leak: HTTP 400", lerr)
        assert.is_nil(ldetail.error)
      end
      t:close()
    end)

    it("does not show where a password that is an ordinary phrase stands in the portal's text", function()
      local err = failed_login("nobody@example.com", "authentication")
      assert.equal("login failed: HTTP 401", err)
      err = failed_login("nobody@example.com", "authentication-x")
      assert.equal("login failed: HTTP 401: User authentication failed", err)
    end)

    it("leaves the module's own words alone when the password is one of them", function()
      local password = "login failed: HTTP 401"
      local err = failed_login("nobody@example.com", password)
      assert.equal("login failed: HTTP 401: User authentication failed", err)
      err = failed_login("echo@example.com", password)
      assert.equal("login failed: HTTP 401", err)
    end)

    it("leaves the module's own words alone when the token is one of them", function()
      local lines = {}
      local t = onlyoffice.session(portal.docspace, "/api/2.0/emu/status",
        { trace = function(line) lines[#lines + 1] = line end })
      local data, err, detail = t:get("emu/status", { code = 404 })
      t:close()
      assert.is_nil(data)
      assert.equal("GET /api/2.0/emu/status?code=404: HTTP 404: emulated failure 404", err)
      assert.equal("/api/2.0/emu/status?code=404", detail.path)
      assert.equal("> GET /api/2.0/emu/status?code=404", lines[1])
    end)

    it("a token straddling byte 512 of an HTML error page leaves no piece behind", function()
      local t = onlyoffice.session(portal.docspace, TOKEN, { retries = 0, timeout = 10 })
      for pad = 470, 512 do
        local data, err, detail = t:get("emu/htmlecho", { pad = pad })
        assert.is_nil(data)
        assert.equal("http", detail.kind)
        local want = ("<html>" .. ("x"):rep(pad) .. "auth=***</html>"):sub(1, 512)
        assert.equal(want, detail.body, "pad " .. pad)
        assert_no_token({ err, detail })
      end
      t:close()
    end)

    for _, form in ipairs({ "url", "urllower", "json" }) do
      it("a token in an HTML page in its " .. form .. " form becomes ***", function()
        local t = onlyoffice.session(portal.docspace, TOKEN, { retries = 0, timeout = 10 })
        local data, err, detail = t:get("emu/htmlecho", { pad = 10, form = form })
        t:close()
        assert.is_nil(data)
        assert.equal("<html>" .. ("x"):rep(10) .. "auth=***</html>", detail.body)
        assert_no_token({ err, detail })
      end)
    end

    it("covers every string of the portal's error object, keys, nested tables and encoded forms", function()
      local t = onlyoffice.session(portal.docspace, TOKEN, { retries = 0, timeout = 10 })
      local data, err, detail = t:get("emu/jsonleak")
      local results = t:batch({ { "GET", "emu/jsonleak" } })
      t:close()
      assert.is_nil(data)
      assert.equal("GET /api/2.0/emu/jsonleak: HTTP 400: rejected", err)
      local e = detail.error
      assert.equal("AuthError ***", e.type)
      assert.equal("at Auth(***)", e.stack)
      assert.equal("inner ***", e.inner.message)
      assert.equal("/x?token=***", e.inner.url)
      assert.equal("/x?token=***", e.inner.lower)
      assert.equal("json ***", e.inner.escaped)
      assert.equal("***", e.inner.list[1])
      assert.equal("at ***", e.inner.list[2].deeper)
      assert.equal("a key", e.inner["***"])
      assert_no_token({ err, detail })
      assert.is_false(results[1].ok)
      assert.equal("at Auth(***)", results[1][3].error.stack)
      assert_no_token(results)
    end)

    it("covers the snippet of broken JSON in all three forms", function()
      local t = onlyoffice.session(portal.docspace, TOKEN, { retries = 0, timeout = 10 })
      local data, err, detail = t:get("emu/badjsonecho")
      t:close()
      assert.is_nil(data)
      assert.equal("json", detail.kind)
      assert.equal('{"response":{"raw":"***","url":"***","json":"***","cut', detail.body)
      assert_no_token({ err, detail })
    end)

    it("covers the Location of a refused redirect, raw and URL-encoded", function()
      local t = onlyoffice.session(portal.docspace, TOKEN, { retries = 0, timeout = 10 })
      for _, value in ipairs({ TOKEN, url_encode(TOKEN), url_encode(TOKEN, true) }) do
        local data, err, detail = t:get("emu/redirect", { to = portal.workspace .. "/x?t=" .. value })
        assert.is_nil(data)
        assert.equal(portal.workspace .. "/x?t=***", detail.location)
        assert.matches("/x?t=***", err, 1, true)
        assert_no_token({ err, detail.location })
      end
      t:close()
    end)

    it("covers the answer's headers in a failure's detail (Location among them)", function()
      local t = onlyoffice.session(portal.docspace, TOKEN, { retries = 0, timeout = 10 })
      for _, value in ipairs({ TOKEN, url_encode(TOKEN) }) do
        local data, _, detail = t:get("emu/redirect", { to = portal.workspace .. "/x?t=" .. value })
        assert.is_nil(data)
        assert.is_table(detail.headers)
        assert_no_token(detail.headers)
      end
      t:close()
    end)

    it("drops the portal's text for a session whose token is shorter than 8 bytes", function()
      local t = onlyoffice.session(portal.docspace, "short", { retries = 0, timeout = 10 })
      local data, err, detail = t:get("emu/jsonleak")
      local data2, err2, detail2 = t:get("emu/htmlecho", { pad = 3 })
      t:close()
      assert.is_nil(data)
      assert.equal("GET /api/2.0/emu/jsonleak: HTTP 400", err)
      assert.is_nil(detail.error)
      assert.is_nil(data2)
      assert.equal("GET /api/2.0/emu/htmlecho?pad=3: HTTP 400", err2)
      assert.is_nil(detail2.body)
    end)
  end)

  describe("tokens the portal sends", function()
    for _, user in ipairs({ "semicolon@example.com", "cr@example.com" }) do
      it("that cannot stand in a header fail the login (" .. user .. ")", function()
        local t, err, detail = onlyoffice.login(portal.docspace, user, helper.PASSWORD, { timeout = 10 })
        assert.is_nil(t)
        assert.equal("login failed: the portal sent a token that cannot be used in a header", err)
        assert.equal("login", detail.kind)
        assert.equal(200, detail.status)
      end)
    end
  end)

  describe("numbers and bodies", function()
    if math.type then
      it("query integers above 2^53 and the integer limits reach the portal exactly", function()
        local e = assert(s:get("emu/echo", { big = 9007199254740993, max = math.maxinteger,
          min = math.mininteger }))
        assert.equal("/api/2.0/emu/echo?big=9007199254740993&max=9223372036854775807&min=-9223372036854775808",
          e.uri)
      end)

      it("body integers above 2^53 and math.maxinteger reach the portal exactly", function()
        local e = assert(s:post("emu/echo", { id = math.maxinteger }))
        assert.equal('{"id":9223372036854775807}', e.body)
        e = assert(s:post("emu/echo", { ids = { 9007199254740993, -9007199254740993 } }))
        assert.equal('{"ids":[9007199254740993,-9007199254740993]}', e.body)
      end)
    end

    it("whole numbers in a query are written with all their digits", function()
      local e = assert(s:get("emu/echo", { a = 2 ^ 53, b = 123456789012345, c = -999999999999999 }))
      assert.equal("/api/2.0/emu/echo?a=9007199254740992&b=123456789012345&c=-999999999999999", e.uri)
    end)

    it("15-digit integers in a JSON body arrive exact", function()
      local e = assert(s:post("emu/echo", { id = 123456789012345 }))
      assert.equal('{"id":123456789012345}', e.body)
      e = assert(s:post("emu/echo", { ids = { 999999999999999, -123456789012345, 2 ^ 53 } }))
      assert.equal('{"ids":[999999999999999,-123456789012345,9007199254740992]}', e.body)
      e = assert(s:batch({ { "POST", "emu/echo", body = { id = 100000000000001 } } })[1][1])
      assert.equal('{"id":100000000000001}', e.body)
    end)

    it("onlyoffice.array{} arrives as []", function()
      local e = assert(s:post("emu/echo", { fileIds = onlyoffice.array({}) }))
      assert.equal('{"fileIds":[]}', e.body)
      e = assert(s:post("emu/echo", onlyoffice.array({})))
      assert.equal("[]", e.body)
    end)

    it("a query value that is a table but not a list raises", function()
      local ok, msg = pcall(function() s:get("emu/echo", { filter = { type = 1 } }) end)
      assert.is_false(ok)
      assert.matches("filter", msg, 1, true)
      assert.matches("pipeline_spec.lua", msg, 1, true)
      assert.is_nil(hits()["GET /api/2.0/emu/echo"])
    end)
  end)

  describe("query tables", function()
    -- Each would lose values without a word: x = 3 in the first, 3 in the second.
    for name, value in pairs({ ["extra keys"] = { 1, 2, x = 3 }, ["a hole"] = { 1, nil, 3 } }) do
      it("with " .. name .. " as a value raise", function()
        local ok, msg = pcall(function()
          local e = s:get("emu/echo", { id = value })
          return e and e.uri
        end)
        assert.is_false(ok, "sent as " .. tostring(msg))
        assert.matches('"id"', msg, 1, true)
        assert.is_nil(hits()["GET /api/2.0/emu/echo"])
      end)
    end
  end)

  describe("options", function()
    local function raises(fn, words, unlocated)
      local ok, msg = pcall(fn)
      assert.is_false(ok, "did not raise: " .. words)
      assert.matches(words, msg, 1, true)
      if not unlocated then
        assert.matches("pipeline_spec.lua", msg, 1, true)
      end
    end

    it("with unknown names raise in every call that takes options", function()
      local sink = collector()
      raises(function() s:request("GET", "emu/echo", { qeury = { a = 1 } }) end, '"qeury"')
      raises(function() s:batch({ { "GET", "emu/echo" } }, { concurency = 2 }) end, '"concurency"')
      raises(function() s:batch({ { "GET", "emu/echo", qeury = { a = 1 } } }) end, '"qeury"')
      raises(function() s:upload(1001, { data = "x" }, { name = "x.txt", chunksize = 1 }) end, '"chunksize"')
      raises(function() s:download(100001, sink, { progres = print }) end, '"progres"')
      raises(function() s:pages("people", nil, { cuont = 10 }) end, '"cuont"')
      raises(function() onlyoffice.session(portal.docspace, "tok-0123456789", { timout = 1 }) end, '"timout"')
      raises(function() onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, { retrys = 1 }) end,
        '"retrys"')
      -- Nothing was sent but the login before the spec.
      local h = hits()
      h["POST /api/2.0/authentication"] = nil
      assert.is_nil(next(h))
    end)

    it("batch item mistakes raise at the caller's line", function()
      local cases = {
        { { "GET", "emu/echo", timeout = -1 }, '"timeout"' },
        { { "GET", "emu/echo", headers = { ["X-A"] = "" } }, "must not be empty" },
        { { "GET", "emu/echo", query = { a = { b = 1 } } }, 'query value for "a"' },
        { { "BREW", "emu/echo" }, "unknown HTTP method" },
        { { "GET", 42 }, "path must be a string" },
        { { "POST", "emu/echo", body = print }, "body must be a table or a string" },
      }
      for _, case in ipairs(cases) do
        raises(function() s:batch({ case[1] }) end, case[2])
      end
    end)

    local nan = 0 / 0
    local bad = {
      { "timeout", 0.0004 }, { "timeout", math.huge }, { "timeout", -1 }, { "timeout", nan }, { "timeout", 0 },
      { "connect_timeout", 0.0004 }, { "connect_timeout", math.huge }, { "connect_timeout", nan },
      { "max_body", 0.5 }, { "max_body", 0 }, { "max_body", math.huge }, { "max_body", 2 ^ 53 + 2 },
      { "retries", 1.5 }, { "retries", -1 }, { "retries", 101 }, { "retries", nan },
      { "stall_timeout", 0 }, { "stall_timeout", 0.5 }, { "stall_timeout", math.huge },
      { "max_retry_wait", -1 }, { "max_retry_wait", math.huge },
    }
    for _, case in ipairs(bad) do
      it("out of range raise: " .. case[1] .. " = " .. tostring(case[2]), function()
        raises(function() onlyoffice.session(portal.docspace, "tok-0123456789", { [case[1]] = case[2] }) end,
          '"' .. case[1] .. '"')
        raises(function() onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, { [case[1]] = case[2] }) end,
          '"' .. case[1] .. '"')
      end)
    end

    for _, value in ipairs({ 0.0004, math.huge, -1, nan }) do
      it("a per-call timeout out of range raises: " .. tostring(value), function()
        local sink = collector()
        raises(function() s:request("GET", "emu/echo", { timeout = value }) end, '"timeout"')
        raises(function() s:batch({ { "GET", "emu/echo", timeout = value } }) end, '"timeout"', true)
        raises(function() s:download(100001, sink, { timeout = value }) end, '"timeout"')
        assert.is_nil(hits()["GET /api/2.0/emu/echo"])
      end)
    end

    it("a per-request timeout ends a slow answer while the session's default would wait", function()
      local t0 = now()
      local data, _, detail = s:request("GET", "emu/slow", { query = { ms = 1500 }, timeout = 0.3 })
      local took = now() - t0
      assert.is_nil(data)
      assert.equal("timeout", detail.kind)
      assert.is_true(took < 1.2, "took " .. took .. " s")
      local results = s:batch({ { "GET", "emu/slow", query = { ms = 1500 }, timeout = 0.3 },
        { "GET", "emu/echo" } })
      assert.equal("timeout", results[1][3].kind)
      assert.is_true(results[2].ok)
      -- The session's own timeout is unchanged afterwards.
      assert.is_true(assert(s:get("emu/slow", { ms = 500 })).slept)
    end)

    it("a per-request timeout longer than the session's lets a slow answer arrive", function()
      local t = onlyoffice.session(portal.docspace, s:token(), { timeout = 0.3 })
      local data = t:request("GET", "emu/slow", { query = { ms = 800 }, timeout = 5 })
      local _, _, detail = t:get("emu/slow", { ms = 800 })
      t:close()
      assert.is_true(data and data.slept)
      assert.equal("timeout", detail.kind)
    end)

    it("Retry-After as an HTTP date is waited for", function()
      local t0 = now()
      local data = assert(s:get("emu/flaky", { key = "date", times = 1, status = 503, after_date = 2 }))
      local took = now() - t0
      assert.equal(2, data.hits)
      assert.is_true(took >= 0.9 and took < 5, "took " .. took .. " s")
    end)

    it("Retry-After as an HTTP date beyond max_retry_wait returns the answer at once", function()
      local t = onlyoffice.session(portal.docspace, s:token(), { max_retry_wait = 1 })
      local t0 = now()
      local data, _, detail = t:get("emu/flaky", { key = "far", times = 1, status = 503, after_date = 30 })
      local took = now() - t0
      t:close()
      assert.is_nil(data)
      assert.equal(503, detail.status)
      assert.is_true(detail.retry_after >= 28 and detail.retry_after <= 30, tostring(detail.retry_after))
      assert.is_true(took < 1, "took " .. took .. " s")
      assert.equal(1, hits()["GET /api/2.0/emu/flaky"])
    end)
  end)

  describe("pages", function()
    -- Items of the iterator, at most limit of them (an endless iterator stops there).
    local function walk(path, query, opts, limit)
      local items = {}
      for item, index in s:pages(path, query, opts) do
        items[#items + 1] = item
        assert.equal(#items, index)
        if #items >= (limit or 1000) then
          break
        end
      end
      return items
    end

    it("take a string count", function()
      local items = walk("people", { count = "40" })
      assert.equal(150, #items)
      assert.equal(4, hits()["GET /api/2.0/people"])
      items = walk("emu/list", { n = 25, count = "10" })
      assert.equal(25, #items)
      assert.equal(3, hits()["GET /api/2.0/emu/list"])
    end)

    it("walk a list without total to its end", function()
      local items = walk("emu/list", { n = 25 }, { count = 10 })
      assert.equal(25, #items)
      for i = 1, 25 do
        assert.equal(i, items[i].id)
      end
      items = walk("emu/list", { n = 20 }, { count = 10 })
      assert.equal(20, #items)
      assert.equal(20, items[20].id)
    end)

    it("stop when the server ignores startIndex", function()
      local items = walk("emu/samepage", { count = 10 })
      assert.equal(10, #items)
      assert.equal(2, hits()["GET /api/2.0/emu/samepage"])
    end)

    it("stop when the server ignores startIndex and the items have no id", function()
      local items = walk("emu/samepage", { count = 10, noid = 1 })
      assert.equal(10, #items)
      assert.equal(2, hits()["GET /api/2.0/emu/samepage"])
    end)
  end)
end)
