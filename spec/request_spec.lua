local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"
local cjson = require "cjson"

local unpack = table.unpack or unpack

-- Every behaviour of a request is checked twice, with the same expectations:
-- as a single call and as the only request of a batch.
local modes = {
  single = function(s, method, path, opts)
    -- Not a tail call: Lua 5.1 would drop this frame, and with it the location
    -- that argument errors name.
    local a, b, c = s:request(method, path, opts)
    return a, b, c
  end,
  batched = function(s, method, path, opts)
    opts = opts or {}
    local r = s:batch({ { method, path, query = opts.query, body = opts.body, headers = opts.headers,
      timeout = opts.timeout } })
    assert.equal(1, r.n)
    assert.equal(1, #r)
    local one = r[1]
    if one[1] == nil then
      assert.is_false(one.ok)
      assert.equal(3, one.n)
    else
      assert.is_true(one.ok)
      assert.equal(2, one.n)
    end
    return unpack(one, 1, one.n)
  end,
}
local MODES = { "single", "batched" }

describe("requests", function()
  local portal, s
  setup(function()
    portal = helper.start()
    s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
  end)
  teardown(function()
    s:close()
    portal:stop()
  end)

  for _, mode in ipairs(MODES) do
    local send = modes[mode]

    describe(mode .. ":", function()
      describe("paths", function()
        it("are relative to /api/2.0/ unless they start with /", function()
          local a = assert(send(s, "GET", "people/@self"))
          local b = assert(send(s, "GET", "/api/2.0/people/@self"))
          assert.equal(helper.USER, a.email)
          assert.same(a, b)
        end)

        it("keep an inline query and add the query table to it", function()
          local e = assert(send(s, "GET", "emu/echo?x=1", { query = { y = 2 } }))
          assert.equal("/api/2.0/emu/echo?x=1&y=2", e.uri)
        end)

        it("escape bytes that may not stand in a URL", function()
          local e = assert(send(s, "GET", "emu/echo?name=a b\"c"))
          assert.equal("/api/2.0/emu/echo?name=a%20b%22c", e.uri)
        end)
      end)

      describe("query tables", function()
        it("are URL-encoded with sorted keys", function()
          local e = assert(send(s, "GET", "emu/echo", { query = { text = "a b&c=d/é", n = 5, f = 1.5, yes = true } }))
          assert.equal("/api/2.0/emu/echo?f=1.5&n=5&text=a%20b%26c%3Dd%2F%C3%A9&yes=true", e.uri)
          assert.equal("a b&c=d/é", e.args.text)
        end)

        it("repeat the key for an array value", function()
          local e = assert(send(s, "GET", "emu/echo", { query = { id = { 1, 2, 3 } } }))
          assert.equal("/api/2.0/emu/echo?id=1&id=2&id=3", e.uri)
        end)

        it("write whole floats without a decimal point", function()
          local e = assert(send(s, "GET", "emu/echo", { query = { startIndex = 100.0 } }))
          assert.equal("/api/2.0/emu/echo?startIndex=100", e.uri)
        end)
      end)

      describe("bodies", function()
        it("send a table as JSON with its Content-Type", function()
          local e = assert(send(s, "POST", "emu/echo", { body = { title = "Reports", tags = { "a", "b" } } }))
          assert.equal("POST", e.method)
          assert.equal("application/json", e.headers["content-type"])
          assert.same({ title = "Reports", tags = { "a", "b" } }, cjson.decode(e.body))
        end)

        it("send a string as it is", function()
          local e = assert(send(s, "PUT", "emu/echo", { body = "raw <body>" }))
          assert.equal("PUT", e.method)
          assert.equal("raw <body>", e.body)
        end)

        it("send an array marked with onlyoffice.array as [] even when empty", function()
          local e = assert(send(s, "POST", "emu/echo", { body = { ids = onlyoffice.array({}), o = {} } }))
          assert.matches('"ids":[]', e.body, 1, true)
          assert.matches('"o":{}', e.body, 1, true)
          assert.equal(#'{"ids":[],"o":{}}', #e.body)
        end)

        it("are not touched by the caller's cjson settings", function()
          cjson.encode_number_precision(3)
          local e = assert(send(s, "POST", "emu/echo", { body = { x = 1.23456 } }))
          cjson.encode_number_precision(14)
          assert.equal('{"x":1.23456}', e.body)
        end)

        for _, method in ipairs({ "PUT", "PATCH", "DELETE" }) do
          it("go with " .. method, function()
            local e = assert(send(s, method, "emu/echo", { body = { deleteAfter = true } }))
            assert.equal(method, e.method)
            assert.equal('{"deleteAfter":true}', e.body)
            assert.equal("application/json", e.headers["content-type"])
          end)
        end

        it("never turn a GET into another method", function()
          local ok, e = pcall(send, s, "GET", "emu/echo", { body = "x" })
          if ok then -- sending it as a GET with a body, or refusing it, are both fine
            assert.is_table(e)
            assert.equal("GET", e.method)
          end
        end)
      end)

      describe("Content-Type", function()
        it("is absent without a body", function()
          local e = assert(send(s, "GET", "emu/echo"))
          assert.is_nil(e.headers["content-type"])
          assert.equal("application/json", e.headers.accept)
        end)

        it("is application/json for a string body too", function()
          local e = assert(send(s, "POST", "emu/echo", { body = "text" }))
          assert.equal("application/json", e.headers["content-type"])
        end)

        it("comes from the request headers instead of the default", function()
          local e = assert(send(s, "POST", "emu/echo", { body = "a=1", headers = {
            ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Trace"] = 7 } }))
          assert.equal("application/x-www-form-urlencoded", e.headers["content-type"])
          assert.equal("7", e.headers["x-trace"])
          assert.equal("a=1", e.body)
        end)

        it("comes from the request headers whatever the case of its name", function()
          local e = assert(send(s, "PUT", "emu/echo", { body = "a,b", headers = { ["content-TYPE"] = "text/csv" } }))
          assert.equal("text/csv", e.headers["content-type"])
        end)

        it("is sent once when the session's headers name one", function()
          local t = onlyoffice.session(portal.docspace, s:token(), { headers = { ["Content-Type"] = "text/csv" } })
          local e = assert(send(t, "POST", "emu/echo", { body = "a,b" }))
          local again = assert(send(t, "POST", "emu/echo", { body = "a,b", headers = { ["Content-Type"] = "text/x" } }))
          t:close()
          assert.is_string(e.headers["content-type"], "more than one Content-Type was sent")
          assert.equal("text/x", again.headers["content-type"])
        end)
      end)

      describe("headers", function()
        it("carry the token, the session's own headers and the request's", function()
          local t = onlyoffice.session(portal.docspace, s:token(), { headers = { ["X-Session"] = "s" } })
          local e = assert(send(t, "GET", "emu/echo", { headers = { ["X-Request"] = "r" } }))
          t:close()
          assert.equal(s:token(), e.headers.authorization)
          assert.equal("s", e.headers["x-session"])
          assert.equal("r", e.headers["x-request"])
          assert.equal("lua-onlyoffice/" .. onlyoffice._VERSION, e.headers["user-agent"])
        end)

        it("of a request replace the session's header of the same name", function()
          local t = onlyoffice.session(portal.docspace, s:token(), { headers = { ["X-Both"] = "session" } })
          local e = assert(send(t, "GET", "emu/echo", { headers = { ["x-both"] = "request" } }))
          t:close()
          assert.equal("request", e.headers["x-both"])
        end)

        it("of the answer come back in info, with lowercase names", function()
          local data, info = send(s, "GET", "emu/plainjson")
          assert.is_table(data)
          assert.equal("application/json", info.headers["content-type"])
          assert.is_nil(info.headers["Content-Type"])
        end)
      end)

      describe("methods", function()
        for _, method in ipairs({ "GET", "POST", "PUT", "DELETE", "PATCH" }) do
          it(method .. " reaches the portal as " .. method, function()
            local e = assert(send(s, method:lower(), "emu/echo"))
            assert.equal(method, e.method)
          end)
        end

        it("DELETE takes a query", function()
          local e = assert(send(s, "DELETE", "emu/echo", { query = { deleteAfter = true } }))
          assert.equal("DELETE", e.method)
          assert.equal("/api/2.0/emu/echo?deleteAfter=true", e.uri)
        end)

        it("HEAD returns an empty body and the status", function()
          local data, info = send(s, "HEAD", "people/@self")
          assert.equal("", data)
          assert.equal(200, info.status)
          -- The reused handle must not keep HEAD's no-body mode for later requests.
          local e = assert(send(s, "POST", "emu/echo", { body = "after head" }))
          assert.equal("POST", e.method)
          assert.equal("after head", e.body)
        end)
      end)

      describe("answers", function()
        it("unwrap the envelope and report count and total", function()
          local data, info = assert(send(s, "GET", "files/@my", { query = { count = 10, startIndex = 5 } }))
          assert.equal(200, info.status)
          assert.equal(10, info.count)
          assert.equal(2, #data.folders)
          assert.equal(8, #data.files)
          assert.equal(237, data.total)
        end)

        it("carry Workspace's envelope total and nextIndex in info", function()
          local w = assert(onlyoffice.login(portal.workspace, helper.USER, helper.PASSWORD))
          local data, info = assert(send(w, "GET", "files/@my", { query = { count = 10, startIndex = 5 } }))
          w:close()
          assert.equal(237, info.total)
          assert.equal(15, info.nextIndex)
          assert.equal(5, info.startIndex)
          assert.equal(8, #data.files)
        end)

        it("count any 2xx as success (Workspace answers POST with 201)", function()
          local w = assert(onlyoffice.login(portal.workspace, helper.USER, helper.PASSWORD))
          local data, info = send(w, "POST", "emu/echo", { body = {} })
          w:close()
          assert.equal("POST", data.method)
          assert.equal(201, info.status)
        end)

        it("give JSON integers as Lua integers and keep floats and null", function()
          local data = assert(send(s, "GET", "emu/numbers"))
          assert.is_true(helper.is_integer(data.id))
          assert.equal("files/file/100001", "files/file/" .. data.id)
          assert.is_true(helper.is_integer(data.negative))
          assert.equal(-42, data.negative)
          assert.equal(1.5, data.ratio)
          assert.equal(onlyoffice.null, data.nothing)
          assert.is_true(helper.is_integer(data.list[3]))
        end)

        it("give the portal's false as false, a success", function()
          local bad = onlyoffice.session(portal.docspace, "not-a-valid-token")
          local data, info = send(bad, "GET", "authentication")
          bad:close()
          assert.is_false(data)
          assert.equal(200, info.status)
          assert.is_true((send(s, "GET", "authentication")))
        end)

        it("return JSON without an envelope as decoded", function()
          local data, info = assert(send(s, "GET", "emu/plainjson"))
          assert.same({ id = 7, name = "not enveloped" }, data)
          assert.equal(200, info.status)
        end)

        it("return other bodies as strings", function()
          local data, info = send(s, "GET", "emu/text")
          assert.equal("plain words", data)
          assert.equal(200, info.status)
        end)

        it("give null for an envelope without a response", function()
          local e = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
          local data, info = send(e, "POST", "/api/2.0/authentication/logout")
          assert.equal(onlyoffice.null, data)
          assert.equal(200, info.status)
          e:close()
        end)
      end)

      describe("failures", function()
        it("carry the status and the portal's error message", function()
          local data, err, detail = send(s, "GET", "files/file/1")
          assert.is_nil(data)
          assert.equal("http", detail.kind)
          assert.equal(404, detail.status)
          assert.equal("GET /api/2.0/files/file/1: HTTP 404: The required file was not found", err)
          assert.equal("The required file was not found", detail.error.message)
          assert.equal("GET", detail.method)
          assert.equal("/api/2.0/files/file/1", detail.path)
        end)

        it("carry any non-2xx status", function()
          local data, err, detail = send(s, "PUT", "emu/status", { query = { code = 409 } })
          assert.is_nil(data)
          assert.equal("PUT /api/2.0/emu/status?code=409: HTTP 409: emulated failure 409", err)
          assert.equal(409, detail.status)
          assert.equal("PUT", detail.method)
        end)

        it("report an HTML error page from a proxy with its status and body", function()
          local data, err, detail = send(s, "GET", "emu/html502")
          assert.is_nil(data)
          assert.equal(502, detail.status)
          assert.matches("HTTP 502", err, 1, true)
          assert.matches("<title>502 Bad Gateway</title>", detail.body, 1, true)
        end)

        -- Workspace sends a plain-text "Unauthorized", DocSpace an empty body.
        for flavor, ending in pairs({ workspace = "HTTP 401: Unauthorized$", docspace = "HTTP 401$" }) do
          it("report " .. flavor .. "'s 401 on a bad token", function()
            local w = onlyoffice.session(portal[flavor], "not-a-token")
            local data, err, detail = send(w, "GET", "people/@self")
            w:close()
            assert.is_nil(data)
            assert.equal("http", detail.kind)
            assert.equal(401, detail.status)
            assert.matches(ending, err)
          end)
        end

        it("report broken JSON in a 200 answer", function()
          local data, err, detail = send(s, "GET", "emu/truncated")
          assert.is_nil(data)
          assert.matches("^invalid JSON", err)
          assert.equal("json", detail.kind)
          assert.equal(200, detail.status)
        end)

        it("report invalid UTF-8 in a 200 answer", function()
          local data, err, detail = send(s, "GET", "emu/raw/bad_utf8")
          assert.is_nil(data)
          assert.matches("^invalid JSON", err)
          assert.equal("json", detail.kind)
          assert.equal(200, detail.status)
        end)

        it("report a connection closed mid-body as a network error", function()
          local data, err, detail = send(s, "GET", "emu/cut")
          assert.is_nil(data)
          assert.matches("^network error", err)
          assert.equal("network", detail.kind)
          assert.is_true(helper.broke_off(detail))
          assert.is_nil(detail.status)
        end)

        it("report a refused connection as a network error", function()
          local t = onlyoffice.session(helper.CLOSED_URL, "some-token-value", { retries = 0 })
          local data, err, detail = send(t, "GET", "people/@self")
          t:close()
          assert.is_nil(data)
          assert.matches("^network error", err)
          assert.equal("network", detail.kind)
          assert.equal(7, detail.curl_code)
        end)

        it("end a slow answer at the session's timeout", function()
          local t = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, { timeout = 0.3 }))
          local data, err, detail = send(t, "GET", "emu/slow", { query = { ms = 3000 } })
          t:close()
          assert.is_nil(data)
          assert.matches("^network error", err)
          assert.is_true(detail.timeout)
          assert.equal("timeout", detail.kind)
          assert.equal(28, detail.curl_code)
        end)

        it("end a slow answer at the request's timeout", function()
          local data, _, detail = send(s, "GET", "emu/slow", { query = { ms = 3000 }, timeout = 0.3 })
          assert.is_nil(data)
          assert.equal("timeout", detail.kind)
          assert.equal(28, detail.curl_code)
          assert.is_truthy(send(s, "GET", "emu/slow", { query = { ms = 100 }, timeout = 5 }))
        end)

        it("stop a body larger than max_body", function()
          local t = onlyoffice.session(portal.docspace, s:token(), { max_body = 1000 })
          local data, err, detail = send(t, "GET", "files/@my")
          assert.is_nil(data)
          assert.matches("max_body", err, 1, true)
          assert.equal("too_large", detail.kind)
          -- The session stays usable for answers below the limit.
          assert.is_truthy(send(t, "GET", "emu/plainjson"))
          t:close()
        end)

        it("refuse a redirect to another origin", function()
          local data, err, detail = send(s, "GET", "emu/redirect", { query = { to = "http://example.invalid/x" } })
          assert.is_nil(data)
          assert.equal("redirect", detail.kind)
          assert.equal("http://example.invalid/x", detail.location)
          assert.matches("not followed", err, 1, true)
        end)

        it("on a closed session are closed failures", function()
          local t = onlyoffice.session(portal.docspace, s:token())
          t:close()
          local data, err, detail = send(t, "GET", "people/@self")
          assert.is_nil(data)
          assert.equal("session is closed", err)
          assert.equal("closed", detail.kind)
        end)
      end)

      describe("redirects inside the portal", function()
        it("are followed, 307 keeping the method and body", function()
          local e = assert(send(s, "POST", "emu/redirect", { body = "kept",
            query = { to = "/api/2.0/emu/echo?z=1", code = 307 } }))
          assert.equal("POST", e.method)
          assert.equal("kept", e.body)
          assert.equal("/api/2.0/emu/echo?z=1", e.uri)
          assert.equal(s:token(), e.headers.authorization)
        end)

        it("are followed, 303 as a GET without the body", function()
          local e = assert(send(s, "POST", "emu/redirect", { body = "dropped",
            query = { to = "/api/2.0/emu/echo", code = 303 } }))
          assert.equal("GET", e.method)
          assert.equal("", e.body)
        end)
      end)

      describe("re-login", function()
        -- A revoke ends every token of the user: s gets its new one here.
        after_each(function()
          assert(s:get("people/@self"))
        end)

        it("happens once when the token was revoked, then the request goes again", function()
          local t = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
          local old, logins = t:token(), portal:logins()
          portal:control("revoke", { user = helper.USER })
          local e = assert(send(t, "POST", "emu/echo", { body = "after revoke" }))
          assert.equal("after revoke", e.body)
          assert.equal(logins + 1, portal:logins())
          assert.are_not.equal(old, t:token())
          assert.equal(t:token(), e.headers.authorization)
          t:close()
        end)

        it("happens once: a second 401 comes back", function()
          local t = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
          local logins = portal:logins()
          local data, _, detail = send(t, "GET", "emu/always401")
          t:close()
          assert.is_nil(data)
          assert.equal(401, detail.status)
          assert.equal(logins + 1, portal:logins())
        end)

        it("does not happen on a token-only session", function()
          local t = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
          local u = onlyoffice.session(portal.docspace, t:token())
          t:close()
          local logins = portal:logins()
          portal:control("revoke", { user = helper.USER })
          local data, _, detail = send(u, "GET", "people/@self")
          u:close()
          assert.is_nil(data)
          assert.equal(401, detail.status)
          assert.equal(logins, portal:logins())
        end)
      end)

      describe("retries", function()
        it("repeat a GET answered 503", function()
          local key = mode .. "-get"
          local data, info = send(s, "GET", "emu/flaky", { query = { key = key, times = 2, status = 503, after = 0 } })
          assert.equal(200, info.status)
          assert.equal(3, data.hits)
        end)

        it("never repeat a POST", function()
          local key = mode .. "-post"
          local data, _, detail = send(s, "POST", "emu/flaky", { query = { key = key, times = 1, status = 503 },
            body = { a = 1 } })
          assert.is_nil(data)
          assert.equal(503, detail.status)
          assert.equal(2, assert(send(s, "GET", "emu/flaky", { query = { key = key } })).hits)
        end)

        it("return a 429 whose Retry-After is above max_retry_wait, with retry_after", function()
          local t = onlyoffice.session(portal.docspace, s:token(), { max_retry_wait = 2 })
          local data, _, detail = send(t, "GET", "emu/flaky", { query = { key = mode .. "-429", times = 1,
            status = 429, after = 120 } })
          t:close()
          assert.is_nil(data)
          assert.equal(429, detail.status)
          assert.equal(120, detail.retry_after)
        end)
      end)

      describe("raises on programmer mistakes:", function()
        local cases = {
          { "an unknown method", function() send(s, "BREW", "x") end, "unknown HTTP method \"BREW\"" },
          { "a non-string path", function() send(s, "GET", 42) end, "path must be a string" },
          { "a LF in a path", function() send(s, "GET", "people/@self\nX-Injected: 1") end, "CR, LF or NUL" },
          { "a CR in a header value", function()
            send(s, "GET", "x", { headers = { ["X-A"] = "v\rX-B: 1" } })
          end, "must not contain CR" },
          { "a bad header name", function() send(s, "GET", "x", { headers = { ["X A:"] = "v" } }) end,
            "invalid header name" },
          { "an empty header value", function() send(s, "GET", "x", { headers = { ["User-Agent"] = "" } }) end,
            "must not be empty" },
          { "a function in a query", function() send(s, "GET", "x", { query = { f = print } }) end,
            "must be a string, number or boolean" },
          { "a body of the wrong type", function() send(s, "POST", "x", { body = 42 }) end,
            "body must be a table or a string" },
          { "a body cjson cannot encode", function() send(s, "POST", "x", { body = { f = print } }) end,
            "cannot be encoded as JSON" },
          { "a timeout out of range", function() send(s, "GET", "x", { timeout = 0 }) end, "timeout" },
        }
        for _, case in ipairs(cases) do
          it(case[1], function()
            local ok, msg = pcall(case[2])
            assert.is_false(ok)
            assert.matches(case[3], msg, 1, true)
            assert.matches("request_spec.lua", msg, 1, true)
          end)
        end
      end)
    end)
  end

  describe("convenience methods", function()
    it("get takes a query", function()
      local e = assert(s:get("emu/echo", { y = 2 }))
      assert.equal("GET", e.method)
      assert.equal("/api/2.0/emu/echo?y=2", e.uri)
    end)

    it("post sends a table as JSON, with a query", function()
      local e = assert(s:post("emu/echo", { title = "Reports" }, { x = 1 }))
      assert.equal("POST", e.method)
      assert.equal("/api/2.0/emu/echo?x=1", e.uri)
      assert.equal("application/json", e.headers["content-type"])
      assert.equal('{"title":"Reports"}', e.body)
    end)

    it("put sends a string as it is", function()
      local e = assert(s:put("emu/echo", "raw <body>"))
      assert.equal("PUT", e.method)
      assert.equal("raw <body>", e.body)
    end)

    it("delete takes a query", function()
      local e = assert(s:delete("emu/echo", { deleteAfter = true }))
      assert.equal("DELETE", e.method)
      assert.equal("/api/2.0/emu/echo?deleteAfter=true", e.uri)
    end)

    it("give the same failures as request", function()
      local data, err, detail = s:get("files/file/1")
      assert.is_nil(data)
      assert.equal(404, detail.status)
      assert.equal("GET /api/2.0/files/file/1: HTTP 404: The required file was not found", err)
    end)
  end)

  describe("raises on programmer mistakes:", function()
    local cases = {
      { "an unknown method", function() s:request("BREW", "x") end, "unknown HTTP method \"BREW\"" },
      { "a non-string path", function() s:get(42) end, "path must be a string" },
      { "a LF in a path", function() s:get("people/@self\nX-Injected: 1") end, "CR, LF or NUL" },
      { "a NUL in a path", function() s:get("people\0") end, "CR, LF or NUL" },
      { "a CR in a header value", function()
        s:request("GET", "x", { headers = { ["X-A"] = "v\rX-B: 1" } })
      end, "must not contain CR" },
      { "a bad header name", function() s:request("GET", "x", { headers = { ["X A:"] = "v" } }) end,
        "invalid header name" },
      { "a function in a query", function() s:get("x", { f = print }) end, "must be a string, number or boolean" },
      { "a body of the wrong type", function() s:post("x", 42) end, "body must be a table or a string" },
      { "a body cjson cannot encode", function() s:post("x", { f = print }) end, "cannot be encoded as JSON" },
      { "an unknown request option", function() s:request("GET", "x", { querry = {} }) end,
        "unknown option \"querry\"" },
      { "an unknown batch field", function() s:batch({ { "GET", "x", querry = {} } }) end,
        "unknown field \"querry\"" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local ok, msg = pcall(case[2])
        assert.is_false(ok)
        assert.matches(case[3], msg, 1, true)
        assert.matches("request_spec.lua", msg, 1, true)
      end)
    end
  end)
end)
