local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

describe("login", function()
  local portal
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)
  before_each(function() portal:reset() end)

  for _, flavor in ipairs({ "docspace", "workspace" }) do
    describe("on " .. flavor, function()
      it("returns a session holding the portal's token", function()
        local s, err = onlyoffice.login(portal[flavor], helper.USER, helper.PASSWORD)
        assert.is_nil(err)
        assert.equal("userdata", type(s))
        assert.is_string(s:token())
        assert.is_true(portal:valid(s:token(), flavor))
        assert.equal("2027-11-27T12:00:00.0000000Z", s:expires())
        s:close()
      end)

      it("accepts the one-table form", function()
        local s = assert(onlyoffice.login({ url = portal[flavor] .. "/", username = helper.USER,
          password = helper.PASSWORD, timeout = 5 }))
        assert.is_true(portal:valid(s:token(), flavor))
        s:close()
      end)

      it("reports a wrong password with the portal's status and message", function()
        local s, err, detail = onlyoffice.login(portal[flavor], helper.USER, "wrong-password")
        assert.is_nil(s)
        -- DocSpace answers 401; Workspace maps every authentication failure to 500.
        assert.equal(flavor == "docspace" and 401 or 500, detail.status)
        assert.matches("User authentication failed", err, 1, true)
        assert.equal("User authentication failed", detail.error.message)
      end)

      it("gets a new token on every login", function()
        local a = assert(onlyoffice.login(portal[flavor], helper.USER, helper.PASSWORD))
        local b = assert(onlyoffice.login(portal[flavor], helper.USER, helper.PASSWORD))
        assert.are_not.equal(a:token(), b:token())
        a:close()
        b:close()
      end)

      it("sends the password as JSON, escaping quotes, backslashes and control characters", function()
        local password = "p\"a\\ss w\trd\n\226\130\172\1</"
        local s, err = onlyoffice.login(portal[flavor], "odd@example.com", password)
        assert.is_nil(err)
        assert.is_truthy(s)
        s:close()
      end)

      it("blocks a login after five failed attempts", function()
        for i = 1, 5 do
          local _, _, detail = onlyoffice.login(portal[flavor], "throttle@example.com", "wrong" .. i)
          assert.equal(flavor == "docspace" and 401 or 500, detail.status)
          assert.is_nil(detail.throttled)
        end
        -- Blocked now, even with the right password.
        local s, err, detail = onlyoffice.login(portal[flavor], "throttle@example.com", helper.PASSWORD)
        assert.is_nil(s)
        if flavor == "docspace" then
          assert.equal(403, detail.status)
          assert.matches("Too many login attempts", err, 1, true)
        else
          assert.equal(500, detail.status)
          assert.matches("Too many attempts", err, 1, true)
        end
        assert.is_true(detail.throttled)
        assert.matches("the portal's brute-force block", err, 1, true)
      end)
    end)
  end

  it("reads the PascalCase Token and Expires fields", function()
    local s = assert(onlyoffice.login(portal.workspace, "pascal@example.com", helper.PASSWORD))
    assert.is_true(portal:valid(s:token(), "workspace"))
    assert.equal("2027-11-27T12:00:00.0000000Z", s:expires())
    s:close()
  end)

  describe("two-factor", function()
    it("without a code reports an app challenge with the confirm URL", function()
      local s, err, detail = onlyoffice.login(portal.docspace, "tfa@example.com", helper.PASSWORD)
      assert.is_nil(s)
      assert.matches("two-factor", err, 1, true)
      assert.is_true(detail.tfa)
      assert.is_nil(detail.sms)
      assert.matches("^http://.*TfaAuth", detail.confirm_url)
    end)

    it("without a code reports an SMS challenge with the phone hint", function()
      local s, err, detail = onlyoffice.login(portal.docspace, "sms@example.com", helper.PASSWORD)
      assert.is_nil(s)
      assert.is_true(detail.sms)
      assert.equal("+1***1234", detail.phone)
      assert.matches("+1***1234", err, 1, true)
    end)

    for _, case in ipairs({ { "tfa@example.com", "123456" }, { "sms@example.com", "654321" } }) do
      it("with the right code logs " .. case[1] .. " in", function()
        local s = assert(onlyoffice.login(portal.docspace, case[1], helper.PASSWORD, { code = case[2] }))
        assert.is_true(portal:valid(s:token()))
        s:close()
      end)
    end

    it("accepts the code in the one-table form, on Workspace too", function()
      local s = assert(onlyoffice.login({ url = portal.workspace, username = "tfa@example.com",
        password = helper.PASSWORD, code = "123456" }))
      assert.is_true(portal:valid(s:token(), "workspace"))
      s:close()
    end)

    it("with a wrong code fails with the portal's status", function()
      local s, err, detail = onlyoffice.login(portal.docspace, "tfa@example.com", helper.PASSWORD,
        { code = "000000" })
      assert.is_nil(s)
      assert.equal(401, detail.status)
      assert.matches("login failed", err)
    end)

    it("ignores a code for an account without two-factor", function()
      local s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, { code = "123456" }))
      s:close()
    end)
  end)

  it("reports an unreachable portal as a network error", function()
    local s, err, detail = onlyoffice.login(helper.CLOSED_URL, helper.USER, helper.PASSWORD)
    assert.is_nil(s)
    assert.matches("^network error", err)
    assert.equal(7, detail.curl_code)
    assert.is_nil(detail.status)
  end)

  describe("raises on programmer mistakes:", function()
    local cases = {
      { "a non-string URL", function() onlyoffice.login(42, "u", "p") end, "portal URL must be a string" },
      { "a URL without http(s)", function() onlyoffice.login("ftp://x", "u", "p") end, "http:// or https://" },
      { "a URL with a newline", function() onlyoffice.login("http://x\n", "u", "p") end, "must not contain" },
      { "a URL with a password in it", function() onlyoffice.login("https://alice:pw@x", "u", "p") end,
        "must not hold a user name or password" },
      { "a session URL with a user in it", function() onlyoffice.session("http://alice@x/sub", "tok") end,
        "must not hold a user name or password" },
      { "a missing user name", function() onlyoffice.login("http://x", nil, "p") end, "username" },
      { "a missing password", function() onlyoffice.login("http://x", "u") end, "password" },
      { "an unknown option", function() onlyoffice.login("http://x", "u", "p", { timout = 1 }) end,
        "unknown option \"timout\"" },
      { "a mistyped option", function() onlyoffice.login("http://x", "u", "p", { timeout = "1" }) end,
        "option \"timeout\" must be a number" },
      { "a CR in a header option", function()
        onlyoffice.login("http://x", "u", "p", { headers = { ["X-A"] = "a\r\nX-B: b" } })
      end, "must not contain CR" },
      { "an Authorization header option", function()
        onlyoffice.login("http://x", "u", "p", { headers = { authorization = "x" } })
      end, "set by the session" },
      { "an unknown transport", function() onlyoffice.login("http://x", "u", "p", { transport = "tcp" }) end,
        "option \"transport\" must be \"curl\" or \"ngx\"" },
      { "a location without transport ngx", function()
        onlyoffice.login("http://x", "u", "p", { location = "/_onlyoffice" })
      end, "option \"location\" belongs to transport \"ngx\"" },
      { "a curl option with transport ngx", function()
        onlyoffice.login("http://x", "u", "p", { transport = "ngx", verify = false })
      end, "option \"verify\" has no effect with transport \"ngx\"" },
      { "a location that is not a path", function()
        onlyoffice.login("http://x", "u", "p", { transport = "ngx", location = "/a b" })
      end, "option \"location\" must be a path" },
      { "transport ngx outside nginx", function()
        onlyoffice.session("http://x", "token", { transport = "ngx" })
      end, "transport \"ngx\" works only inside nginx's Lua module" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        assert.has_error(case[2])
        local ok, msg = pcall(case[2])
        assert.is_false(ok)
        assert.matches(case[3], msg, 1, true)
        -- The error points at the caller's line, not inside the module.
        assert.matches("login_spec.lua", msg, 1, true)
      end)
    end
  end)
end)
