-- Structured trace events (trace_events = true): tables instead of lines,
-- with the same redaction as the string form.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

describe("trace events", function()
  local portal, token
  setup(function()
    portal = helper.start()
    local s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
    token = s:token()
  end)
  teardown(function() portal:stop() end)

  local function recorder()
    local events = {}
    return events, { trace_events = true, trace = function(e) events[#events + 1] = e end }
  end

  local function login(opts)
    return assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, opts))
  end

  it("tells the login, a request and each answer as tables", function()
    local events, opts = recorder()
    local s = login(opts)
    local data = assert(s:get("emu/echo", { i = 2 }))
    s:close()
    assert.equal(4, #events)
    local login_out, login_in, out, answer = events[1], events[2], events[3], events[4]
    assert.same({ phase = "request", method = "POST", path = "/api/2.0/authentication", attempt = 1,
      login = true }, login_out)
    assert.equal("response", login_in.phase)
    assert.equal(200, login_in.status)
    assert.same({ phase = "request", method = "GET", path = "/api/2.0/emu/echo?i=2", attempt = 1 }, out)
    assert.equal("response", answer.phase)
    assert.equal("GET", answer.method)
    assert.equal("/api/2.0/emu/echo?i=2", answer.path)
    assert.equal(200, answer.status)
    assert.equal(1, answer.attempt)
    assert.is_true(answer.bytes > 0)
    assert.equal("2", data.args.i)
    assert.is_true(answer.seconds >= 0 and answer.seconds < 10)
    assert.is_nil(answer.kind)
  end)

  it("measures the time from sending to the answer", function()
    local events, opts = recorder()
    local s = onlyoffice.session(portal.docspace, "token", opts)
    assert(s:get("emu/slow", { ms = 300 }))
    s:close()
    assert.equal(2, #events)
    assert.is_true(events[2].seconds >= 0.29 and events[2].seconds < 5, tostring(events[2].seconds))
  end)

  it("counts attempts: a retried request is attempt 2", function()
    local events, opts = recorder()
    opts.max_retry_wait = 0.01
    local s = onlyoffice.session(portal.docspace, "token", opts)
    assert(s:get("emu/flaky", { key = "trace-events", times = 1, after = 0 }))
    s:close()
    assert.equal(4, #events)
    assert.equal(1, events[1].attempt)
    assert.equal(503, events[2].status)
    assert.equal(2, events[3].attempt)
    assert.equal(200, events[4].status)
    assert.equal(2, events[4].attempt)
  end)

  it("tells a failure with its kind and no status", function()
    local events, opts = recorder()
    local s = onlyoffice.session(helper.CLOSED_URL, "token", opts)
    local data, _, detail = s:get("people/@self")
    s:close()
    assert.is_nil(data)
    assert.equal(2, #events)
    local e = events[2]
    assert.equal("failure", e.phase)
    assert.equal("network", e.kind)
    assert.equal(detail.kind, e.kind)
    assert.is_nil(e.status)
    assert.is_string(e.message)
    assert.equal("/api/2.0/people/@self", e.path)
    assert.is_number(e.seconds)
  end)

  it("redacts the token in paths and never shows the password or a code", function()
    local events, opts = recorder()
    local s = login(opts)
    local own = s:token()
    assert(s:get("emu/echo", { t = own }))
    s:close()
    local seen = {}
    for _, e in ipairs(events) do
      for _, v in pairs(e) do
        seen[#seen + 1] = tostring(v)
      end
    end
    local all = table.concat(seen, "\n")
    assert.is_nil(all:find(own, 1, true))
    assert.is_nil(all:find(helper.PASSWORD, 1, true))
    assert.matches("/api/2.0/emu/echo?t=", events[3].path, 1, true)
    local tfa_events, tfa_opts = recorder()
    tfa_opts.code = "123456"
    assert(onlyoffice.login(portal.docspace, "tfa@example.com", helper.PASSWORD, tfa_opts)):close()
    assert.equal("/api/2.0/authentication/<code>", tfa_events[3].path)
  end)

  it("tells every item of a batch", function()
    local events, opts = recorder()
    local s = onlyoffice.session(portal.docspace, token, opts)
    local results = s:batch({ { "GET", "emu/echo" }, { "GET", "emu/status", query = { code = 404 } } })
    s:close()
    assert.equal(2, results.n)
    assert.equal(4, #events)
    local statuses = {}
    for _, e in ipairs(events) do
      if e.phase == "response" then
        statuses[e.status] = e.path
      end
    end
    assert.equal("/api/2.0/emu/echo", statuses[200])
    assert.equal("/api/2.0/emu/status?code=404", statuses[404])
  end)

  it("leaves the string form unchanged without trace_events", function()
    local lines = {}
    local s = onlyoffice.session(portal.docspace, token, { trace = function(l) lines[#lines + 1] = l end })
    assert(s:get("emu/echo"))
    s:close()
    assert.equal("> GET /api/2.0/emu/echo", lines[1])
    assert.matches("^< 200 %(%d+ bytes%)$", lines[2])
  end)

  it("needs a trace function, and a boolean", function()
    assert.has_error(function() onlyoffice.session(portal.docspace, "token", { trace_events = true }) end,
      'option "trace_events" needs a trace function')
    assert.has_error(function()
      onlyoffice.session(portal.docspace, "token", { trace = print, trace_events = "yes" })
    end, 'option "trace_events" must be a boolean, got string')
  end)
end)
