local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

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

  describe("paths", function()
    it("are relative to /api/2.0/ unless they start with /", function()
      local a = assert(s:get("people/@self"))
      local b = assert(s:get("/api/2.0/people/@self"))
      assert.equal(helper.USER, a.email)
      assert.same(a, b)
    end)

    it("keep an inline query and add the query table to it", function()
      local e = assert(s:get("emu/echo?x=1", { y = 2 }))
      assert.equal("/api/2.0/emu/echo?x=1&y=2", e.uri)
    end)

    it("escape bytes that may not stand in a URL", function()
      local e = assert(s:get("emu/echo?name=a b\"c"))
      assert.equal("/api/2.0/emu/echo?name=a%20b%22c", e.uri)
    end)
  end)

  describe("query tables", function()
    it("are URL-encoded with sorted keys", function()
      local e = assert(s:get("emu/echo", { text = "a b&c=d/é", n = 5, f = 1.5, yes = true }))
      assert.equal("/api/2.0/emu/echo?f=1.5&n=5&text=a%20b%26c%3Dd%2F%C3%A9&yes=true", e.uri)
      assert.equal("a b&c=d/é", e.args.text)
    end)

    it("repeat the key for an array value", function()
      local e = assert(s:get("emu/echo", { id = { 1, 2, 3 } }))
      assert.equal("/api/2.0/emu/echo?id=1&id=2&id=3", e.uri)
    end)

    it("write whole floats without a decimal point", function()
      local e = assert(s:get("emu/echo", { startIndex = 100.0 }))
      assert.equal("/api/2.0/emu/echo?startIndex=100", e.uri)
    end)
  end)

  describe("bodies", function()
    it("send a table as JSON with its Content-Type", function()
      local e = assert(s:post("emu/echo", { title = "Reports", tags = { "a", "b" } }))
      assert.equal("POST", e.method)
      assert.equal("application/json", e.headers["content-type"])
      assert.same({ title = "Reports", tags = { "a", "b" } }, require("cjson").decode(e.body))
    end)

    it("send a string as it is", function()
      local e = assert(s:put("emu/echo", "raw <body>"))
      assert.equal("PUT", e.method)
      assert.equal("raw <body>", e.body)
    end)

    it("take a Content-Type from the request headers instead of the default", function()
      local e = assert(s:request("POST", "emu/echo", { body = "a=1", headers = {
        ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Trace"] = 7 } }))
      assert.equal("application/x-www-form-urlencoded", e.headers["content-type"])
      assert.equal("7", e.headers["x-trace"])
    end)

    it("are not touched by the caller's cjson settings", function()
      local cjson = require "cjson"
      cjson.encode_number_precision(3)
      local e = assert(s:post("emu/echo", { x = 1.23456 }))
      cjson.encode_number_precision(14)
      assert.equal('{"x":1.23456}', e.body)
    end)
  end)

  describe("methods", function()
    for _, method in ipairs({ "GET", "POST", "PUT", "DELETE", "PATCH" }) do
      it(method .. " reaches the portal as " .. method, function()
        local e = assert(s:request(method:lower(), "emu/echo"))
        assert.equal(method, e.method)
      end)
    end

    it("delete takes a query", function()
      local e = assert(s:delete("emu/echo", { deleteAfter = true }))
      assert.equal("DELETE", e.method)
      assert.equal("/api/2.0/emu/echo?deleteAfter=true", e.uri)
    end)

    it("HEAD returns an empty body and the status", function()
      local data, info = s:request("HEAD", "people/@self")
      assert.equal("", data)
      assert.equal(200, info.status)
      -- The reused handle must not keep HEAD's no-body mode for later requests.
      local e = assert(s:post("emu/echo", "after head"))
      assert.equal("POST", e.method)
      assert.equal("after head", e.body)
    end)
  end)

  describe("answers", function()
    it("unwrap the envelope and report count and total", function()
      local data, info = assert(s:get("files/@my", { count = 10, startIndex = 5 }))
      assert.equal(200, info.status)
      assert.equal(10, info.count)
      assert.equal(2, #data.folders)
      assert.equal(8, #data.files)
      assert.equal(237, data.total)
    end)

    it("carry Workspace's envelope total and nextIndex in info", function()
      local w = assert(onlyoffice.login(portal.workspace, helper.USER, helper.PASSWORD))
      local data, info = assert(w:get("files/@my", { count = 10, startIndex = 5 }))
      w:close()
      assert.equal(237, info.total)
      assert.equal(15, info.nextIndex)
      assert.equal(5, info.startIndex)
      assert.equal(8, #data.files)
    end)

    it("give JSON integers as Lua integers and keep floats and null", function()
      local data = assert(s:get("emu/numbers"))
      assert.is_true(helper.is_integer(data.id))
      assert.equal("files/file/100001", "files/file/" .. data.id)
      assert.is_true(helper.is_integer(data.negative))
      assert.equal(-42, data.negative)
      assert.equal(1.5, data.ratio)
      assert.equal(onlyoffice.null, data.nothing)
      assert.is_true(helper.is_integer(data.list[3]))
    end)

    it("return JSON without an envelope as decoded", function()
      local data, info = assert(s:get("emu/plainjson"))
      assert.same({ id = 7, name = "not enveloped" }, data)
      assert.equal(200, info.status)
    end)

    it("return other bodies as strings", function()
      local data, info = s:get("emu/text")
      assert.equal("plain words", data)
      assert.equal(200, info.status)
    end)

    it("give null for an envelope without a response", function()
      local e = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
      local data, info = e:request("POST", "/api/2.0/authentication/logout")
      assert.equal(onlyoffice.null, data)
      assert.equal(200, info.status)
      e:close()
    end)
  end)

  describe("failures", function()
    it("carry the status and the portal's error message", function()
      local data, err, detail = s:get("files/file/1")
      assert.is_nil(data)
      assert.equal(404, detail.status)
      assert.equal("GET /api/2.0/files/file/1: HTTP 404: The required file was not found", err)
      assert.equal("The required file was not found", detail.error.message)
    end)

    it("report an HTML error page from a proxy with its status and body", function()
      local data, err, detail = s:get("emu/html502", nil)
      assert.is_nil(data)
      assert.equal(502, detail.status)
      assert.matches("HTTP 502", err, 1, true)
      assert.matches("<title>502 Bad Gateway</title>", detail.body, 1, true)
    end)

    -- Workspace sends a plain-text "Unauthorized", DocSpace an empty body.
    for flavor, ending in pairs({ workspace = "HTTP 401: Unauthorized$", docspace = "HTTP 401$" }) do
      it("report " .. flavor .. "'s 401 on a bad token", function()
        local w = onlyoffice.session(portal[flavor], "not-a-token")
        local data, err, detail = w:get("people/@self")
        w:close()
        assert.is_nil(data)
        assert.equal(401, detail.status)
        assert.matches(ending, err)
      end)
    end

    it("report broken JSON in a 200 answer", function()
      local data, err, detail = s:get("emu/truncated")
      assert.is_nil(data)
      assert.matches("^invalid JSON", err)
      assert.equal(200, detail.status)
    end)

    it("report a connection closed mid-body as a network error", function()
      local data, err, detail = s:get("emu/cut")
      assert.is_nil(data)
      assert.matches("^network error", err)
      assert.is_true(helper.broke_off(detail))
      assert.is_nil(detail.status)
    end)

    it("end a slow answer at the timeout", function()
      local t = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, { timeout = 0.3 }))
      local data, err, detail = t:get("emu/slow", { ms = 3000 })
      t:close()
      assert.is_nil(data)
      assert.matches("^network error", err)
      assert.is_true(detail.timeout)
      assert.equal(28, detail.curl_code)
    end)

    it("stop a body larger than max_body", function()
      local t = onlyoffice.session(portal.docspace, s:token(), { max_body = 1000 })
      local data, err = t:get("files/@my")
      assert.is_nil(data)
      assert.matches("max_body", err, 1, true)
      -- The session stays usable for answers below the limit.
      assert.is_truthy(t:get("emu/plainjson"))
      t:close()
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
