local helper = require "spec.helper"

-- Runs an example with the interpreter under test; returns its output and success.
local function run_example(url, name, args, user, env)
  local interpreter = helper.runtime == "jit" and "luajit" or ("lua" .. helper.runtime)
  local vars = {}
  for k, v in pairs(env or {}) do
    vars[#vars + 1] = k .. "='" .. v .. "'"
  end
  local cmd = table.concat({
    table.concat(vars, " "),
    "ONLYOFFICE_URL=" .. url,
    "ONLYOFFICE_USER=" .. (user or helper.USER),
    "ONLYOFFICE_PASSWORD=" .. helper.PASSWORD,
    "ONLYOFFICE_EMULATOR=1",
    "LUA_PATH='" .. package.path .. "'",
    "LUA_CPATH='" .. package.cpath .. "'",
    interpreter, helper.root .. "/examples/" .. name, args or "", "2>&1; echo \"[exit $?]\"",
  }, " ")
  -- Not helper.sh: under the sanitizer run the example must load the ASan build too.
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close() -- Lua 5.1 cannot report the exit status here, hence the echo
  local text, status = out:match("^(.-)%[exit (%d+)%]\n$")
  return text, status == "0"
end

describe("examples", function()
  local portal
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)

  for _, flavor in ipairs({ "docspace", "workspace" }) do
    it("whoami prints the user on " .. flavor, function()
      local out, ok = run_example(portal[flavor], "whoami.lua")
      assert.is_true(ok)
      assert.equal("Ada Example <user@example.com>\n", out)
    end)

    it("trace_metrics counts answers by status and sums their times on " .. flavor, function()
      local out, ok = run_example(portal[flavor], "trace_metrics.lua")
      assert.is_true(ok, out)
      assert.matches("^4 requests, %d+%.%d%d%d s waiting for answers\n", out)
      assert.matches("\n  200      [23]\n", out)
      assert.matches("\n  404      1\n", out)
    end)

    it("list_documents walks every page on " .. flavor, function()
      local out = run_example(portal[flavor], "list_documents.lua")
      local _, files = out:gsub("\nfile ", "")
      local _, folders = out:gsub("folder ", "")
      assert.equal(230, files)
      assert.equal(7, folders)
      assert.matches("237 entries\n$", out)
    end)

    it("upload_download sends a file and gets the same bytes back on " .. flavor, function()
      local dir = helper.sh("mktemp -d /tmp/onlyoffice-example.XXXXXX"):match("%S+")
      local f = assert(io.open(dir .. "/in.bin", "wb"))
      f:write(("example bytes\0\255"):rep(5000))
      f:close()
      local out, ok = run_example(portal[flavor], "upload_download.lua", dir .. "/in.bin " .. dir .. "/out.bin")
      assert.is_true(ok)
      assert.matches('uploaded "in.bin" as file %d+ %(75000 bytes%)', out)
      assert.matches("downloaded 75000 bytes to " .. dir .. "/out.bin", out, 1, true)
      local copy = assert(io.open(dir .. "/out.bin", "rb"))
      assert.is_true(copy:read("*a") == ("example bytes\0\255"):rep(5000))
      copy:close()
      helper.sh("rm -rf '" .. dir .. "'")
    end)

    it("create_folder creates a folder on " .. flavor, function()
      local out = run_example(portal[flavor], "create_folder.lua", "'Q3 Reports'")
      assert.matches('^created folder %d+ "Q3 Reports" in 1001\n$', out)
    end)

    it("copy_folder copies a folder with a progress line on " .. flavor, function()
      local out, ok = run_example(portal[flavor], "copy_folder.lua", "2001 2002")
      assert.is_true(ok)
      assert.matches("copying 100%", out, 1, true)
      assert.matches("copied folder 2001 into 2002 as folder %d+\n$", out)
    end)

    it("bulk_download writes a zip of the chosen files on " .. flavor, function()
      local dir = helper.sh("mktemp -d /tmp/onlyoffice-example.XXXXXX"):match("%S+")
      local out, ok = run_example(portal[flavor], "bulk_download.lua", dir .. "/docs.zip 100001 100002 folder:2001")
      assert.is_true(ok)
      local zip = helper.read_file(dir .. "/docs.zip")
      local last = "wrote " .. #zip .. " bytes to " .. dir .. "/docs.zip\n"
      assert.equal(last, out:sub(-#last))
      assert.equal("PK\3\4", zip:sub(1, 4))
      assert.truthy(zip:find("Document 2.docx", 1, true))
      helper.sh("rm -rf '" .. dir .. "'")
    end)

    it("demo runs through on " .. flavor, function()
      local out = run_example(portal[flavor], "demo.lua")
      assert.matches("me         Ada Example <user@example.com>", out, 1, true)
      assert.matches("my docs    5 of 237 entries", out, 1, true)
      assert.matches("created    folder", out, 1, true)
      local key_line = flavor == "docspace"
        and "api key    sk%-%*%*%*%x%x%x%x reads 237 entries; GET /api/2.0/people/@self: HTTP 403 %(the API key lacks"
        or "api key    none on this portal: POST /api/2.0/keys: HTTP 404"
      assert.matches(key_line, out)
      assert.matches("operation  copy of folder 2001: done, progress 0% 33% 66% 100%", out, 1, true)
      assert.matches("logout     ", out, 1, true)
    end)
  end

  it("api_key works with a key of its own, and shows a scope refusal", function()
    local out, ok = run_example(portal.docspace, "api_key.lua")
    assert.is_true(ok, out)
    assert.matches("key of     Ada Example <user@example.com>", out, 1, true)
    assert.matches("my docs    237 entries", out, 1, true)
    assert.matches("people     auth: GET /api/2.0/people: HTTP 403 (the API key lacks the scope this route "
      .. "needs: accounts:read (or :write))", out, 1, true)
  end)

  it("oauth_first_tokens and oauth_refresh get, use and rotate the tokens in a private file", function()
    local creds = require "portal_credentials"
    local dir = helper.sh("mktemp -d /tmp/onlyoffice-example.XXXXXX"):match("%S+")
    local env = { OAUTH_CLIENT_ID = creds.CLIENT_ID, OAUTH_CLIENT_SECRET = creds.CLIENT_SECRET,
      OAUTH_REDIRECT_URI = "https://app.example.com/callback", TOKENS_FILE = dir .. "/tokens.json" }
    local out, ok = run_example(portal.docspace, "oauth_first_tokens.lua", nil, nil, env)
    assert.is_true(ok, out)
    assert.equal(portal.docspace .. "/oauth2/authorize?response_type=code&client_id=" .. creds.CLIENT_ID
      .. "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&scope=files%3Aread%20accounts.self%3Aread\n",
      out)
    env.OAUTH_CODE = "not-a-code"
    local bad, bad_ok = run_example(portal.docspace, "oauth_first_tokens.lua", nil, nil, env)
    assert.is_false(bad_ok)
    assert.equal("token exchange failed: HTTP 400: invalid_grant\n", bad)
    env.OAUTH_CODE = portal:control("oauth_code", { user = helper.USER }).code
    out, ok = run_example(portal.docspace, "oauth_first_tokens.lua", nil, nil, env)
    assert.is_true(ok, out)
    assert.equal("600", helper.sh("stat -c %a " .. env.TOKENS_FILE):match("%d+"))
    local first = require("cjson").decode(helper.read_file(env.TOKENS_FILE))
    assert.matches("^ort_", first.refresh_token)
    out, ok = run_example(portal.docspace, "oauth_refresh.lua", "--refresh", nil, env)
    assert.is_true(ok, out)
    assert.equal("refreshed  the access token; the new pair is saved\nme         Ada Example <user@example.com>\n",
      out)
    local second = require("cjson").decode(helper.read_file(env.TOKENS_FILE))
    assert.are_not.equal(first.refresh_token, second.refresh_token)
    assert.equal("600", helper.sh("stat -c %a " .. env.TOKENS_FILE):match("%d+"))
    out, ok = run_example(portal.docspace, "oauth_refresh.lua", nil, nil, env)
    assert.is_true(ok, out)
    assert.equal("me         Ada Example <user@example.com>\n", out)
    helper.sh("rm -rf '" .. dir .. "'")
  end)

  it("whoami reports a failed login and exits non-zero", function()
    local out, ok = run_example(portal.docspace, "whoami.lua", nil, "nobody@example.com")
    assert.is_false(ok)
    assert.matches("login failed: HTTP 401: User authentication failed", out, 1, true)
  end)
end)
