-- Answers a careful client must survive: each ends in nil, message, detail,
-- never a crash or a hang, and the session stays usable afterwards.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

describe("hostile answers", function()
  local portal, s
  setup(function()
    portal = helper.start()
    s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD,
      { timeout = 2, retries = 0, max_body = 1024 * 1024 }))
  end)
  teardown(function()
    s:close()
    portal:stop()
  end)
  after_each(function()
    assert.equal(helper.USER, assert(s:get("people/@self")).email) -- still usable
  end)

  local function fails(kind)
    local data, err, detail = s:get("emu/raw/" .. kind)
    assert.is_nil(data)
    assert.is_string(err)
    assert.equal("table", type(detail))
    assert.is_nil(err:find(s:token(), 1, true))
    return err, detail
  end

  it("endless headers", function()
    local err, detail = fails("endless_headers")
    assert.is_number(detail.curl_code)
    assert.matches("^network error", err)
  end)

  it("a body that drips until the total timeout", function()
    local _, detail = fails("drip")
    assert.is_true(detail.timeout)
  end)

  it("fewer bytes than Content-Length", function()
    local _, detail = fails("short_length")
    assert.is_true(helper.broke_off(detail))
  end)

  it("more bytes than Content-Length", function()
    local err = fails("long_length")
    assert.matches("^invalid JSON", err)
  end)

  for _, kind in ipairs({ "reset_at_once", "reset_in_status", "reset_in_headers", "reset_in_body" }) do
    it("a connection reset: " .. kind, function()
      local err, detail = fails(kind)
      assert.matches("^network error", err)
      assert.is_number(detail.curl_code)
    end)
  end

  it("invalid UTF-8 in a JSON body", function()
    local err, detail = fails("bad_utf8")
    assert.equal("invalid JSON in the answer: not UTF-8 at byte 26", err)
    assert.equal(200, detail.status)
  end)

  it("JSON nested 100,000 deep", function()
    local err = fails("deep_json")
    assert.matches("^invalid JSON", err)
  end)

  it("a 100 MB body against max_body", function()
    local err, detail = fails("huge")
    assert.equal("response body larger than max_body (1048576 bytes)", err)
    assert.equal("too_large", detail.kind)
  end)
end)

describe("many sessions", function()
  it("10,000 created and collected", function()
    local portal = helper.start()
    local token = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD)):token()
    for i = 1, 10000 do
      local s = onlyoffice.session(portal.docspace, token)
      if i % 1000 == 0 then
        assert.equal(helper.USER, assert(s:get("people/@self")).email)
        collectgarbage()
      end
    end
    collectgarbage()
    collectgarbage()
    -- Every handle was freed: Lua's count is back near where a few sessions leave it.
    assert.is_true(collectgarbage("count") < 20 * 1024)
    portal:stop()
  end)
end)
