-- onlyoffice.emulator as its users see it: examples/emulator_spec.lua run as they
-- would run it, and the module's API (users, documents, faults, delays, the request
-- log, revoke, both flavours, its refusals).
local helper = require "spec.helper"
local emulator = require "onlyoffice.emulator"
local onlyoffice = require "onlyoffice"

local interpreter = helper.runtime == "jit" and "luajit" or ("lua" .. helper.runtime)

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"[exit $?]\"")
  local out = p:read("*a")
  p:close()
  local text, status = out:match("^(.-)%[exit (%d+)%]\n$")
  return text, status == "0"
end

local paths = "LUA_PATH='" .. helper.root .. "/examples/?.lua;" .. package.path .. "' LUA_CPATH='"
  .. package.cpath .. "'"

describe("onlyoffice.emulator", function()
  it("runs examples/emulator_spec.lua, and it passes", function()
    local out, ok = run(("%s %s /usr/bin/busted -o utfTerminal %s/examples/emulator_spec.lua"):format(paths,
      interpreter, helper.root))
    assert.is_true(ok, out)
    assert.matches("5 successes / 0 failures / 0 errors", out)
  end)

  it("serves the given users and documents, on both flavours", function()
    for _, flavor in ipairs({ "docspace", "workspace" }) do
      local portal = emulator.start{ flavor = flavor,
        users = { ["Me@Example.com"] = { password = "pw", name = "Me Too" } },
        files = { { title = "a.docx", content = "abc" }, { title = "b.txt", content = "", folder = "Sub" } } }
      local s = assert(onlyoffice.login(portal.url, "me@example.com", "pw"))
      assert.equal("Me Too", s:get("people/@self").displayName)
      local my = assert(s:get("files/@my"))
      assert.equal(1, #my.files)
      assert.equal("a.docx", my.files[1].title)
      assert.equal(3, my.files[1].pureContentLength)
      assert.equal("Sub", my.folders[1].title)
      local sub = assert(s:get("files/" .. my.folders[1].id))
      assert.equal("b.txt", sub.files[1].title)
      assert(s:post("files/folder/" .. my.folders[1].id, { title = "Deeper" }))
      assert.equal("Deeper", assert(s:get("files/" .. my.folders[1].id)).folders[1].title)
      assert.is_nil(onlyoffice.login(portal.url, helper.USER, helper.PASSWORD)) -- the defaults are gone
      s:close()
      portal:stop()
    end
  end)

  it("keeps the built-in users when none are given", function()
    local portal = emulator.start()
    local s = assert(onlyoffice.login(portal.url, helper.USER, helper.PASSWORD))
    assert.equal("Ada Example", s:get("people/@self").displayName)
    s:close()
    portal:stop()
  end)

  describe("controls", function()
    local portal, s
    before_each(function()
      portal = emulator.start{ users = { ["me@example.com"] = { password = "pw" },
        ["two@example.com"] = { password = "pw2", tfa = true, code = "111222" } } }
      s = assert(onlyoffice.login(portal.url, "me@example.com", "pw", { retries = 0 }))
    end)
    after_each(function()
      s:close()
      portal:stop()
    end)

    it("injects a status a number of times, on one method only if asked", function()
      portal:fault("files/@my", { status = 503, times = 2 })
      local _, _, d1 = s:get("files/@my")
      local _, _, d2 = s:get("files/@my")
      assert.equal(503, d1.status)
      assert.equal(503, d2.status)
      assert(s:get("files/@my"))
      portal:fault("/api/2.0/people/@self", { status = 500, method = "POST", times = 0 })
      assert(s:get("people/@self"))
    end)

    it("delays a route, and clears a fault", function()
      portal:fault("people/@self", { delay_ms = 300, times = 0 })
      local t = os.time()
      for _ = 1, 4 do
        assert(s:get("people/@self"))
      end
      assert.is_true(os.time() - t >= 1)
      portal:fault("people/@self", { status = 500, times = 0 })
      assert.is_nil(s:get("people/@self"))
      portal:fault("people/@self")
      assert(s:get("people/@self"))
    end)

    it("logs requests without passwords", function()
      assert(s:get("files/@my", { count = 5, token = "t0ken", access_token = "at", apikey = "k", sig = "s" }))
      local two = assert(onlyoffice.login(portal.url, "two@example.com", "pw2", { code = "111222" }))
      two:close()
      local log = portal:requests()
      assert.same({ method = "POST", path = "/api/2.0/authentication", query = {} }, log[1])
      assert.same({ method = "GET", path = "/api/2.0/files/@my", query = { count = "5", token = "[redacted]",
        access_token = "[redacted]", apikey = "[redacted]", sig = "[redacted]" } }, log[2])
      assert.equal("/api/2.0/authentication/[redacted]", log[#log].path) -- the two-factor code
      for _, r in ipairs(log) do
        assert.is_nil(r.path:find("pw", 1, true))
      end
    end)

    it("revokes a user's tokens", function()
      local token = s:token()
      portal:revoke("me@example.com")
      local t = onlyoffice.session(portal.url, token, { retries = 0 })
      local _, _, d = t:get("people/@self")
      assert.equal(401, d.status)
      t:close()
    end)

    it("refuses to be used after stop", function()
      local p = emulator.start()
      p:stop()
      assert.has_error(function() p:requests() end, "onlyoffice.emulator: this portal was stopped")
    end)
  end)

  it("raises on wrong options, at the caller's line", function()
    assert.has_error(function() emulator.start{ flavour = "docspace" } end,
      "onlyoffice.emulator.start: unknown option flavour")
    assert.has_error(function() emulator.start{ flavor = "sharepoint" } end,
      'onlyoffice.emulator.start: flavor must be "docspace" or "workspace"')
    assert.has_error(function() emulator.start{ users = { ["a@b"] = { password = 1 } } } end,
      "onlyoffice.emulator.start: users maps an email to { password = <string>, ... }")
    assert.has_error(function() emulator.start{ files = { { content = "x" } } } end,
      "onlyoffice.emulator.start: files[1] must be { title = <string>, content = <string> }")
  end)

  it("names the Debian packages when nginx is missing", function()
    local out, ok = run(("ONLYOFFICE_NGINX=/nonexistent/nginx %s %s -e 'require(\"onlyoffice.emulator\").start()'")
      :format(paths, interpreter))
    assert.is_false(ok)
    assert.matches("needs nginx %(/nonexistent/nginx is missing%): apt%-get install nginx "
      .. "libnginx%-mod%-http%-lua", out)
  end)
end)
