-- TLS against the emulator's HTTPS server, whose certificate comes from a test CA
-- that control.lua makes with openssl at every start.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

describe("TLS", function()
  local portal
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)

  local function login(url, opts)
    return onlyoffice.login(url, helper.USER, helper.PASSWORD, opts)
  end

  it("verifies by default: a certificate from an unknown CA fails with a TLS message", function()
    local s, err, detail = login(portal.https)
    assert.is_nil(s)
    assert.matches("^TLS error: SSL certificate problem", err)
    assert.is_true(detail.tls)
    assert.equal(60, detail.curl_code)
  end)

  it("trusts the CA given as cafile", function()
    local s = assert(login(portal.https, { cafile = portal.cafile }))
    local a = assert(s:get("emu/echo"))
    local b = assert(s:get("emu/echo"))
    assert.equal(a.connection, b.connection) -- one TLS connection, kept alive
    s:close()
  end)

  it("refuses a certificate for another host, even from a trusted CA", function()
    local s, err, detail = login(portal.https_wrong_host, { cafile = portal.cafile })
    assert.is_nil(s)
    assert.matches("^TLS error: .*127%.0%.0%.2", err)
    assert.is_true(detail.tls)
  end)

  it("skips every check only with verify = false", function()
    local s = assert(login(portal.https_wrong_host, { verify = false }))
    assert.equal(helper.USER, assert(s:get("people/@self")).email)
    s:close()
  end)

  it("does not follow a redirect from https down to http", function()
    local s = assert(login(portal.https, { cafile = portal.cafile }))
    local data, err, detail = s:get("emu/redirect", { to = portal.docspace .. "/api/2.0/emu/echo" })
    assert.is_nil(data)
    assert.matches("redirected from https to http, not followed", err, 1, true)
    assert.equal("redirect", detail.kind)
    assert.equal(portal.docspace .. "/api/2.0/emu/echo", detail.location)
    s:close()
  end)
end)
