-- onlyoffice.ngx inside a real nginx (Debian's, with its Lua module on LuaJIT)
-- in front of the portal emulator; requests come from the curl command line.
local helper = require "spec.helper"

local sh = helper.sh

-- status, body of one GET
local function get(url)
  local out = sh("curl -s -m 20 -w '\\n%{http_code}' '" .. url .. "'")
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

-- n concurrent GETs: a table status -> count
local function get_many(url, n)
  local out = sh(("seq %d | xargs -P %d -I{} curl -s -m 30 -o /dev/null -w '%%{http_code}\\n' '%s'")
    :format(n, n, url))
  local counts = {}
  for code in out:gmatch("%d+") do
    counts[tonumber(code)] = (counts[tonumber(code)] or 0) + 1
  end
  return counts
end

-- The pool takes every call the specs make at once (40) without refusing one,
-- whichever worker they land on; the full-pool spec sizes its own.
local function start_app(portal, vars)
  local v = { PORTAL = portal.docspace, THREADS = 4, QUEUE = 60, VMS = 64, CREDENTIALS = "/nonexistent" }
  for k, x in pairs(vars or {}) do
    v[k] = x
  end
  return helper.start({ template = helper.root .. "/spec/support/app.conf", workers = v.WORKERS or 2, vars = v })
end

describe("onlyoffice.ngx in nginx", function()
  local portal, app
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)
  before_each(function()
    portal:reset()
    app = start_app(portal)
  end)
  after_each(function() app:stop() end)

  it("serves portal data from a request handler", function()
    local status, body = get(app.url .. "/me")
    assert.equal(200, status)
    assert.same({ name = "Ada Example", email = helper.USER }, require("cjson").decode(body))
    local dstatus, dbody = get(app.url .. "/documents?page=2")
    assert.equal(200, dstatus)
    local doc = require("cjson").decode(dbody)
    assert.equal(2, doc.page)
    assert.equal(25, #doc.files)
  end)

  it("logs in once for many concurrent first requests across two workers", function()
    local counts = get_many(app.url .. "/me", 40)
    assert.equal(40, counts[200])
    assert.equal(1, portal:logins())
    get_many(app.url .. "/me", 20)
    assert.equal(1, portal:logins())
  end)

  it("logs in once more after the token is revoked, for every worker", function()
    get_many(app.url .. "/me", 10)
    assert.equal(1, portal:logins())
    portal:control("revoke", { user = helper.USER })
    local counts = get_many(app.url .. "/me", 30)
    assert.equal(30, counts[200])
    assert.equal(2, portal:logins())
  end)

  it("keeps answering other requests while slow portal calls are in flight", function()
    local dir = sh("mktemp -d /tmp/onlyoffice-ngx.XXXXXX"):match("%S+")
    -- Three 1.5 s portal calls in the background; /fast and /me must answer before any
    -- ends. Three, not four: should all land on the worker that gets /me, its pool of
    -- four threads still has one for /me.
    sh(("cd %s; for i in 1 2 3; do curl -s -m 20 '%s/slow?ms=1500' > slow.$i & done; sleep 0.3; "
      .. "curl -s -m 20 '%s/fast' > fast; curl -s -m 20 '%s/me' > me; "
      .. "for i in 1 2 3; do [ -s slow.$i ] && echo slow.$i; done > early; wait")
      :format(dir, app.url, app.url, app.url))
    assert.equal("fast\n", helper.read_file(dir .. "/fast"))
    assert.matches(helper.USER, helper.read_file(dir .. "/me"), 1, true)
    assert.equal("", helper.read_file(dir .. "/early"), "a slow call finished before the fast requests")
    for i = 1, 3 do
      assert.equal("slow ok\n", helper.read_file(dir .. "/slow." .. i))
    end
    sh("rm -rf '" .. dir .. "'")
  end)

  it("reads the credentials from a file inside the thread", function()
    local file = app.prefix .. "/credentials"
    helper.write_file(file, "# portal account\nurl = " .. portal.docspace .. "\nusername = " .. helper.USER
      .. "\npassword = " .. helper.PASSWORD .. "\n")
    sh("chmod 644 '" .. file .. "'")
    local other = start_app(portal, { CREDENTIALS = file })
    local _, refused = get(other.url .. "/me_file") -- readable by others: refused
    sh("chmod 600 '" .. file .. "'")
    local status, body = get(other.url .. "/me_file")
    other:stop()
    assert.matches("must be a regular file of the reading user with mode 0600 or 0400", refused, 1, true)
    assert.equal(200, status)
    assert.equal(helper.USER .. "\n", body)
  end)

  it("answers a full thread pool with a clear error and keeps the worker alive", function()
    local small = start_app(portal, { WORKERS = 1, THREADS = 1, QUEUE = 1, VMS = 2 })
    local counts = get_many(small.url .. "/slow?ms=600", 8)
    local status, body = get(small.url .. "/fast")
    local log = helper.read_file(small.prefix .. "/error.log") or ""
    small:stop()
    assert.is_true((counts[503] or 0) >= 1, "no call was refused")
    assert.is_true((counts[200] or 0) >= 1, "no call went through")
    assert.equal(8, (counts[503] or 0) + (counts[200] or 0))
    assert.equal(200, status)
    assert.equal("fast\n", body)
    assert.is_nil(log:find("exited on signal", 1, true))
    assert.is_nil(log:find("invalid pointer", 1, true))
  end)

  it("never writes the token or the password to the error log", function()
    get_many(app.url .. "/me", 5)
    portal:control("revoke", { user = helper.USER })
    get(app.url .. "/me")
    local log = helper.read_file(app.prefix .. "/error.log") or ""
    assert.is_nil(log:find(helper.PASSWORD, 1, true))
  end)
end)
