-- No copy of the password or the token is left in freed heap memory by libcurl or
-- the module: spec/support/freed.c, preloaded into a lua5.4 process, looks for
-- them in every block freed. Lua's own strings are the caller's and are not wiped;
-- that they are found shows the search works. Over HTTPS the module speaks
-- HTTP/1.1 even to a server that offers HTTP/2 (nghttp2 would keep copies);
-- OpenSSL's own buffers are counted apart and not claimed.
local helper = require "spec.helper"

describe("freed memory", function()
  local portal, dir, shim
  setup(function()
    portal = helper.start()
    dir, shim = helper.build_support("freed", "freed.so", "-shared -fPIC -ldl")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf '" .. dir .. "'")
  end)

  -- Runs a Lua chunk with the module (the 5.4 build) under the shim; the counts.
  local function run(needle, chunk, url)
    local script = dir .. "/run.lua"
    helper.write_file(script, ("package.path = %q .. package.path\npackage.cpath = %q .. package.cpath\n")
      :format(helper.root .. "/lua/?.lua;" .. helper.root .. "/lua/?/init.lua;", helper.root .. "/build/5.4/?.so;")
      .. "local onlyoffice, url = require 'onlyoffice', ...\n" .. chunk)
    local out = helper.sh(("FREED_NEEDLE='%s' LD_PRELOAD='%s' lua5.4 %s '%s' '%s' 2>&1")
      :format(needle, shim, script, url or portal.docspace, portal.cafile))
    local all, module, tls = out:match("all=(%d+) module=(%d+) tls=(%d+)")
    assert(all, out)
    return tonumber(all), tonumber(module), tonumber(tls)
  end

  it("holds no password after login, requests, re-login and close", function()
    local all, module = run(helper.PASSWORD, [[
      local s = assert(onlyoffice.login(url, 'user@example.com', 'correct-' .. 'horse-7'))
      assert(s:get('people/@self'))
      local control = onlyoffice.session(url, 'control')
      assert(control:get('/__emu/revoke', { user = 'user@example.com' }))
      control:close()
      assert(s:get('people/@self')) -- a 401, a re-login from the C copy, a retry
      assert(s:post('emu/echo', { n = 1 }))
      s:close()
      collectgarbage()
    ]])
    assert.equal(0, module)
    assert.is_true(all > 0, "the search found not even Lua's own copy")
  end)

  it("holds no token after requests and close", function()
    local token = "tok-3f9a-c1b2-freed-check"
    local all, module = run(token, [[
      local s = onlyoffice.session(url, 'tok-3f9a-' .. 'c1b2-freed-check', { retries = 0 })
      for _ = 1, 3 do s:get('people/@self') end
      s:post('emu/echo', { n = 1 })
      s:close()
      collectgarbage()
    ]])
    assert.equal(0, module)
    assert.is_true(all > 0, "the search found not even Lua's own copy")
  end)

  it("holds no API key after requests and close", function()
    local key = "sk-" .. ("5e"):rep(32)
    local all, module = run(key, [[
      local s = onlyoffice.session(url, 'sk-' .. ('5e'):rep(32), { retries = 0 })
      for _ = 1, 3 do s:get('people/@self') end
      s:post('emu/echo', { n = 1 })
      s:close()
      collectgarbage()
    ]])
    assert.equal(0, module)
    assert.is_true(all > 0, "the search found not even Lua's own copy")
  end)

  it("holds no OAuth client secret after refreshes and close", function()
    local secret = require("portal_credentials").CLIENT_SECRET
    local all, module = run(secret, ([[
      local control = onlyoffice.session(url, 'control')
      local t = assert(control:get('/__emu/oauth_grant', { user = 'user@example.com' }))
      control:close()
      local s = onlyoffice.session({ url = url, access_token = t.access_token, refresh_token = t.refresh_token,
        client_id = %q, client_secret = %q .. %q })
      assert(s:refresh())
      assert(s:get('people/@self'))
      assert(s:refresh())
      s:close()
      collectgarbage()
    ]]):format(require("portal_credentials").CLIENT_ID, secret:sub(1, 5), secret:sub(6)))
    assert.equal(0, module)
    assert.is_true(all > 0, "the search found not even Lua's own copy")
  end)

  it("holds no token after requests over https, where the server also offers HTTP/2", function()
    local token = "tok-7d21-e0f4-freed-check"
    local all, module = run(token, [[
      local cafile = select(2, ...)
      local s = onlyoffice.session(url, 'tok-7d21-' .. 'e0f4-freed-check', { retries = 0, cafile = cafile })
      for _ = 1, 3 do assert(s:get('emu/echo')) end
      assert(s:post('emu/echo', { n = 1 }))
      local e = assert(s:get('emu/echo'))
      assert(e.protocol == 'HTTP/1.1', e.protocol)
      s:close()
      collectgarbage()
    ]], portal.https)
    assert.equal(0, module)
    assert.is_true(all > 0, "the search found not even Lua's own copy")
  end)
end)
