local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

describe("batch", function()
  local portal, s
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)
  before_each(function()
    portal:reset()
    s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
  end)
  after_each(function() s:close() end)

  it("returns results in the order of the requests, successes and failures mixed", function()
    local results = s:batch({
      { "GET", "people/@self" },
      { "GET", "files/file/1" },
      { method = "POST", path = "emu/echo", body = { n = 3 } },
      { "GET", "emu/plainjson" },
      { "GET", "emu/echo", query = { q = "x y" }, headers = { ["X-Batch"] = "yes" } },
      { "GET", "emu/text" },
    })
    assert.equal(6, #results)
    assert.equal(helper.USER, results[1][1].email)
    assert.equal(200, results[1][2].status)
    assert.is_nil(results[2][1])
    assert.equal("GET /api/2.0/files/file/1: HTTP 404: The required file was not found", results[2][2])
    assert.equal(404, results[2][3].status)
    assert.equal('{"n":3}', results[3][1].body)
    assert.equal("application/json", results[3][1].headers["content-type"])
    assert.same({ id = 7, name = "not enveloped" }, results[4][1])
    assert.equal("/api/2.0/emu/echo?q=x%20y", results[5][1].uri)
    assert.equal("yes", results[5][1].headers["x-batch"])
    assert.equal(s:token(), results[5][1].headers.authorization)
    assert.equal("plain words", results[6][1])
  end)

  it("takes a Content-Type from the request headers instead of the default, like single requests", function()
    local results = s:batch({ { "POST", "emu/echo", body = "a=1",
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } } })
    local e = assert(results[1][1], results[1][2])
    assert.equal("application/x-www-form-urlencoded", e.headers["content-type"])
    assert.equal("a=1", e.body)
  end)

  it("keeps to the concurrency bound", function()
    local list = {}
    for i = 1, 12 do
      list[i] = { "GET", "emu/slow", query = { ms = 200 } }
    end
    local results = s:batch(list, { concurrency = 3 })
    local connections = {}
    for i = 1, 12 do
      assert.is_true(results[i][1].slept)
      connections[results[i][1].connection] = true
    end
    assert.equal(3, portal:control("stats").max_inflight)
    local n = 0
    for _ in pairs(connections) do
      n = n + 1
    end
    assert.is_true(n <= 3, n .. " connections for a bound of 3")
  end)

  it("reuses its connections in the next batch", function()
    -- Slow answers overlap, so each batch needs two connections at once (fast
    -- ones may all go over one connection, one after the other).
    local slow = { "GET", "emu/slow", query = { ms = 100 } }
    local first = s:batch({ slow, slow }, { concurrency = 2 })
    local second = s:batch({ slow, slow }, { concurrency = 2 })
    assert.are_not.equal(first[1][1].connection, first[2][1].connection)
    local before = { [first[1][1].connection] = true, [first[2][1].connection] = true }
    assert.is_true(before[second[1][1].connection])
    assert.is_true(before[second[2][1].connection])
  end)

  it("logs in once when the token was revoked, then repeats the refused requests", function()
    portal:control("revoke", { user = helper.USER })
    local list = {}
    for i = 1, 10 do
      list[i] = { "GET", "people/@self" }
    end
    local results = s:batch(list, { concurrency = 4 })
    for i = 1, 10 do
      assert.equal(helper.USER, results[i][1].email)
    end
    assert.equal(2, portal:logins())
  end)

  it("returns the second 401 after one re-login", function()
    local results = s:batch({ { "GET", "emu/always401" }, { "GET", "people/@self" } })
    assert.is_nil(results[1][1])
    assert.equal(401, results[1][3].status)
    assert.equal(helper.USER, results[2][1].email)
    assert.equal(2, portal:logins())
  end)

  it("retries GETs answered 503 like single requests, never POSTs", function()
    local results = s:batch({
      { "GET", "emu/flaky", query = { key = "g", times = 2, status = 503, after = 0 } },
      { "POST", "emu/flaky?key=p&times=1&status=503" },
    })
    assert.equal(3, results[1][1].hits)
    assert.is_nil(results[2][1])
    assert.equal(503, results[2][3].status)
  end)

  it("on a closed session gives each request the closed failure", function()
    s:close()
    local results = s:batch({ { "GET", "people/@self" }, { "GET", "files/@my" } })
    assert.equal("session is closed", results[1][2])
    assert.equal("session is closed", results[2][2])
  end)

  it("an empty list gives an empty result", function()
    assert.same({ n = 0 }, s:batch({}))
  end)

  describe("raises on", function()
    local cases = {
      { "a list that is not a table", function() s:batch("x") end, "requests must be a list" },
      { "a bad request", function() s:batch({ { "BREW", "x" } }) end, "unknown HTTP method" },
      { "a bad concurrency", function() s:batch({}, { concurrency = 0 }) end, "concurrency" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local ok, err = pcall(case[2])
        assert.is_false(ok)
        assert.matches(case[3], err, 1, true)
      end)
    end
  end)
end)
