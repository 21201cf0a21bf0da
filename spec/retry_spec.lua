local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

-- Wall-clock time with sub-second resolution (os.time counts whole seconds).
local function now()
  return tonumber(helper.sh("date +%s.%N"))
end

describe("retries", function()
  local portal, s
  setup(function()
    portal = helper.start()
  end)
  teardown(function() portal:stop() end)
  before_each(function()
    portal:reset()
    s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
  end)
  after_each(function() s:close() end)

  for _, status in ipairs({ 429, 502, 503, 504 }) do
    it("repeat a GET answered " .. status, function()
      local data, info = s:get("emu/flaky", { key = "k", times = 2, status = status, after = 0 })
      assert.is_truthy(data)
      assert.equal(200, info.status)
      assert.equal(3, data.hits)
    end)
  end

  it("give up after two retries by default and return the last answer", function()
    local data, err, detail = s:get("emu/flaky", { key = "k", times = 3, status = 503, after = 0 })
    assert.is_nil(data)
    assert.equal(503, detail.status)
    assert.matches("HTTP 503", err, 1, true)
    local after = assert(s:get("emu/flaky", { key = "k", times = 3, status = 503 }))
    assert.equal(4, after.hits)
  end)

  it("follow options.retries", function()
    local r = onlyoffice.session(portal.docspace, s:token(), { retries = 4 })
    local data = assert(r:get("emu/flaky", { key = "k", times = 4, status = 502, after = 0 }))
    assert.equal(5, data.hits)
    r:close()
  end)

  it("are off with retries = 0", function()
    local r = onlyoffice.session(portal.docspace, s:token(), { retries = 0 })
    local data, _, detail = r:get("emu/flaky", { key = "k", times = 1, status = 503 })
    assert.is_nil(data)
    assert.equal(503, detail.status)
    r:close()
  end)

  it("never repeat a POST", function()
    local data, _, detail = s:post("emu/flaky?key=k&times=1&status=503", { a = 1 })
    assert.is_nil(data)
    assert.equal(503, detail.status)
    local after = assert(s:get("emu/flaky", { key = "k" }))
    assert.equal(2, after.hits)
  end)

  it("back off without Retry-After: 0.2 s, then 0.4 s", function()
    local t0 = now()
    local data = assert(s:get("emu/flaky", { key = "k", times = 2, status = 503 }))
    assert.equal(3, data.hits)
    assert.is_true(now() - t0 >= 0.6)
  end)

  it("wait as long as Retry-After says", function()
    local t0 = now()
    local data = assert(s:get("emu/flaky", { key = "k", times = 1, status = 429, after = 1 }))
    assert.equal(2, data.hits)
    assert.is_true(now() - t0 >= 1)
  end)

  it("do not wait longer than max_retry_wait: the 429 comes back with retry_after", function()
    local r = onlyoffice.session(portal.docspace, s:token(), { max_retry_wait = 2 })
    local data, _, detail = r:get("emu/flaky", { key = "k", times = 1, status = 429, after = 120 })
    assert.is_nil(data)
    assert.equal(429, detail.status)
    assert.equal(120, detail.retry_after)
    r:close()
  end)
end)
