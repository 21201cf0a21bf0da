-- Findings of the review of the pipeline rewrite, each kept as a spec.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

describe("after the review", function()
  local portal
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)
  before_each(function() portal:reset() end)

  local function login(opts)
    return assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD, opts))
  end

  it("loading the module again gives the same module, and the internals to nobody", function()
    local s = login()
    for name in pairs(package.loaded) do
      if name == "onlyoffice" or name:find("^onlyoffice%.") then
        package.loaded[name] = nil
      end
    end
    local again = require "onlyoffice"
    local core = require "onlyoffice.core"
    assert.equal(onlyoffice, again)
    local ok, priv = pcall(core.internals)
    assert.is_false(ok and type(priv) == "table")
    assert.is_false(core.internals) -- the reload put the taken mark on the new core table too
    assert.is_function(s.get) -- the session kept its methods
    assert(s:get("people/@self"))
    s:close()
  end)

  it("shows a redirected path that holds the token redacted, in messages, details and trace", function()
    local lines = {}
    local s = login({ trace = function(line) lines[#lines + 1] = line end })
    local token = s:token()
    local data, err, detail = s:get("emu/redirect", { to = "/api/2.0/emu/status?code=404&t=" .. token })
    s:close()
    assert.is_nil(data)
    assert.equal("http", detail.kind)
    assert.is_nil(err:find(token, 1, true), err)
    assert.is_nil(detail.path:find(token, 1, true), detail.path)
    assert.is_nil(table.concat(lines, "\n"):find(token, 1, true))
  end)

  it("refuses CR, LF or NUL in user_agent, cafile and proxy, and an empty user_agent", function()
    for _, opts in ipairs({ { user_agent = "ua\r\nX-Injected: yes" }, { cafile = "a\nb" }, { proxy = "p\0q" },
      { user_agent = "" } }) do
      local ok, err = pcall(function() onlyoffice.session(portal.docspace, "token-0123456789", opts) end)
      assert.is_false(ok)
      assert.matches("regressions_spec.lua", err, 1, true)
    end
  end)

  it("takes max_body at the top of its range", function()
    local s = login({ max_body = 2 ^ 53 })
    assert(s:get("people/@self"))
    s:close()
  end)

  it("refuses headers that frame the message on the connection", function()
    local s = login()
    for _, name in ipairs({ "Content-Length", "transfer-encoding", "Host", "Upgrade", "TE" }) do
      local ok, err = pcall(s.request, s, "POST", "emu/echo", { body = "abcdef", headers = { [name] = "6" } })
      assert.is_false(ok, name)
      assert.matches("is set by libcurl", err, 1, true)
      ok = pcall(onlyoffice.session, portal.docspace, "token-0123456789", { headers = { [name] = "x" } })
      assert.is_false(ok, name)
    end
    assert(s:get("people/@self")) -- nothing was sent that could desynchronise the connection
    s:close()
  end)

  it("refuses a two-factor code longer than 64 characters before any login", function()
    local ok, err = pcall(function()
      onlyoffice.login(portal.docspace, "tfa@example.com", helper.PASSWORD, { code = ("1"):rep(65) })
    end)
    assert.is_false(ok)
    assert.matches("regressions_spec.lua", err, 1, true)
    assert.equal(0, portal:logins("tfa@example.com"))
  end)

  it("refuses NaN and infinities in queries, ids and page counts", function()
    local s = login()
    for _, v in ipairs({ 0 / 0, math.huge, -math.huge }) do
      assert.is_false(pcall(s.get, s, "emu/echo", { n = v }))
      assert.is_false(pcall(s.download, s, v, function() end))
      assert.is_false(pcall(s.upload, s, v, { data = "x" }, { name = "x" }))
      assert.is_false(pcall(s.pages, s, "people", nil, { count = v }))
    end
    s:close()
  end)

  it("gives each request of a batch its own detail when the re-login fails", function()
    local s = login()
    for i = 1, 6 do
      onlyoffice.login(portal.docspace, helper.USER, "wrong-password-" .. i)
    end
    portal:control("revoke", { user = helper.USER })
    local r = s:batch({ { "GET", "people/@self" }, { "GET", "files/@my" } })
    s:close()
    assert.is_false(r[1].ok)
    assert.equal("login", r[1][3].kind)
    assert.are_not.equal(r[1][3], r[2][3])
    assert.equal("/api/2.0/people/@self", r[1][3].path)
    assert.equal("/api/2.0/files/@my", r[2][3].path)
  end)

  it("drops the portal's text when it holds the password in any encoding", function()
    local s = login()
    local json_form = "\\u0063orrect-horse-7"                      -- \u0063 is "c"
    local url_form = "correct%2Dhorse%2d7"                            -- "-" escaped needlessly
    for _, form in ipairs({ json_form, url_form }) do
      local data, err, detail = s:post("emu/leak", "p=" .. form)
      assert.is_nil(data)
      assert.equal("POST /api/2.0/emu/leak: HTTP 400", err, form)
      assert.is_nil(detail.error)
    end
    s:close()
  end)

  it("refuses a header given twice under names that differ in case", function()
    local s = login()
    local ok, err = pcall(function()
      s:request("POST", "emu/echo", { body = "x", headers = { ["Content-Type"] = "a/b", ["content-type"] = "c/d" } })
    end)
    assert.is_false(ok)
    assert.matches("given twice", err, 1, true)
    assert.is_false(pcall(onlyoffice.session, portal.docspace, "token-0123456789",
      { headers = { ["X-Dup"] = "1", ["x-dup"] = "2" } }))
    s:close()
  end)
end)
