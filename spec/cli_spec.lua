-- The `onlyoffice` command, run as a program under the interpreter under test:
-- through pipes (compact JSON, exit statuses, messages, no progress output) and
-- in a real terminal inside tmux (pretty JSON, the progress bar).
local helper = require "spec.helper"
local cli_json = require "onlyoffice.cli_json"
local progress = require "onlyoffice.cli_progress"

local INTERPRETER = helper.runtime == "jit" and "luajit" or ("lua" .. helper.runtime)
local SCRIPT = helper.root .. "/bin/onlyoffice"
local BIG_MB = 8

local quote = helper.quote

-- The command line that runs the tool with exactly these variables (and the
-- module paths under test, and the sanitizer's preload when the specs run under it).
local function command(env, args)
  local vars = { "PATH=" .. quote(os.getenv("PATH") or "/usr/bin:/bin"), "LUA_PATH=" .. quote(package.path),
    "LUA_CPATH=" .. quote(package.cpath) }
  for _, name in ipairs({ "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS" }) do
    if os.getenv(name) then
      vars[#vars + 1] = name .. "=" .. quote(os.getenv(name))
    end
  end
  for k, v in pairs(env) do
    vars[#vars + 1] = k .. "=" .. quote(v)
  end
  local words = {}
  for i, a in ipairs(args) do
    words[i] = quote(a)
  end
  return "env -i " .. table.concat(vars, " ") .. " " .. INTERPRETER .. " " .. SCRIPT .. " " .. table.concat(words, " ")
end

local tmp

-- Runs the tool with stdout and stderr on files; returns stdout, stderr, exit status.
local function run(env, args)
  local out, err = tmp .. "/stdout", tmp .. "/stderr"
  local p = io.popen(command(env, args) .. " >" .. out .. " 2>" .. err .. " </dev/null; echo $?")
  local status = tonumber(p:read("*a"):match("%d+"))
  p:close()
  return helper.read_file(out), helper.read_file(err), status
end

describe("onlyoffice command", function()
  local portal, login

  setup(function()
    portal = helper.start({ big_mb = BIG_MB })
    tmp = helper.sh("mktemp -d /tmp/onlyoffice-cli.XXXXXX"):match("%S+")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf " .. quote(tmp))
  end)
  before_each(function()
    login = { ONLYOFFICE_URL = portal.docspace, ONLYOFFICE_USER = helper.USER, ONLYOFFICE_PASSWORD = helper.PASSWORD }
  end)

  local function with(extra)
    local env = {}
    for k, v in pairs(login) do
      env[k] = v
    end
    for k, v in pairs(extra) do
      env[k] = v ~= false and v or nil
    end
    return env
  end

  describe("through pipes", function()
    for _, flavor in ipairs({ "docspace", "workspace" }) do
      it("prints compact JSON with sorted keys and exits 0 on " .. flavor, function()
        local out, err, status = run(with { ONLYOFFICE_URL = portal[flavor] }, { "get", "people/@self" })
        assert.equal(0, status)
        assert.equal("", err)
        local sorted = '^{"activationStatus":1,"cultureName":"en%-US","displayName":"Ada Example",'
        assert.matches(sorted, out)
        assert.matches('}\n$', out)
        local _, lines = out:gsub("\n", "")
        assert.equal(1, lines)
      end)

      it("lists a folder page by page, one line per entry, on " .. flavor, function()
        local out, err, status = run(with { ONLYOFFICE_URL = portal[flavor] }, { "ls", "@my" })
        assert.equal(0, status)
        assert.equal("", err)
        local lines = {}
        for line in out:gmatch("[^\n]+") do
          lines[#lines + 1] = line
        end
        assert.equal(237, #lines) -- more than two pages of 100
        assert.equal("folder\t2001\tFolder 1", lines[1])
        assert.matches("^file\t%d+\tDocument 1%.docx$", lines[8])
      end)
    end

    it("says who is logged in", function()
      local out, _, status = run(login, { "whoami" })
      assert.equal(0, status)
      assert.equal("Ada Example <user@example.com>\n", out)
    end)

    it("sends key=value pairs as the query of get and delete", function()
      for _, method in ipairs({ "get", "delete" }) do
        local out, _, status = run(login, { method, "emu/echo", "id=1", "id=2", "q=a b" })
        assert.equal(0, status)
        local echo = assert(require("onlyoffice.json").decode(out))
        assert.equal(method:upper(), echo.method)
        assert.equal("/api/2.0/emu/echo?id=1&id=2&q=a%20b", echo.uri)
      end
    end)

    it("sends key=value and key:=JSON pairs as the JSON body of post and put", function()
      for _, method in ipairs({ "post", "put" }) do
        local out, _, status = run(login, { method, "emu/echo", "n=5", "s=text", "t=true", "z=null", "zip=007",
          "f=-1.5e3", "list:=[]", "obj:={\"x\":[1, 2]}", "q=say \"hi\"" })
        assert.equal(0, status)
        local echo = assert(require("onlyoffice.json").decode(out))
        assert.equal(method:upper(), echo.method)
        assert.equal("application/json", echo.headers["content-type"])
        assert.equal('{"n":5,"s":"text","t":true,"z":null,"zip":"007","f":-1.5e3,"list":[],'
          .. '"obj":{"x":[1, 2]},"q":"say \\"hi\\""}', echo.body)
      end
    end)

    it("creates a folder with post", function()
      local out, _, status = run(login, { "post", "files/folder/1001", "title=Q3 Reports" })
      assert.equal(0, status)
      assert.matches('"title":"Q3 Reports"', out, 1, true)
    end)

    it("uploads and downloads without progress output", function()
      local source = tmp .. "/in.bin"
      helper.write_file(source, ("cli bytes\0\255"):rep(30000))
      local out, err, status = run(login, { "upload", "@my", source })
      assert.equal(0, status)
      assert.equal("", err)
      local id = assert(tonumber(out:match('"id":(%d+)')))
      assert.matches('"title":"in.bin"', out, 1, true)

      out, err, status = run(login, { "download", tostring(id), tmp .. "/out.bin" })
      assert.equal(0, status)
      assert.equal("", err)
      assert.equal("", out)
      assert.is_true(helper.read_file(tmp .. "/out.bin") == ("cli bytes\0\255"):rep(30000))

      out, err, status = run(login, { "download", tostring(id), "-" })
      assert.equal(0, status)
      assert.equal("", err)
      assert.is_true(out == ("cli bytes\0\255"):rep(30000))
    end)

    it("exits 1 with the portal's message on stderr when the portal refuses", function()
      local out, err, status = run(login, { "get", "files/file/1" })
      assert.equal(1, status)
      assert.equal("", out)
      assert.equal("onlyoffice: GET /api/2.0/files/file/1: HTTP 404: The required file was not found\n", err)
    end)

    it("exits 1 when a listing cannot be paged, with the portal's message alone", function()
      local out, err, status = run(login, { "ls", "987654" })
      assert.equal(1, status)
      assert.equal("", out)
      assert.matches("^onlyoffice: GET /api/2.0/files/987654%?count=100&startIndex=0: HTTP 404", err)
    end)

    it("exits 3 when the credentials are refused, 4 without an answer, 5 on a local file", function()
      local _, err, status = run(with { ONLYOFFICE_PASSWORD = "wrong-horse-8" }, { "whoami" })
      assert.equal(3, status)
      assert.equal("onlyoffice: login failed: HTTP 401: User authentication failed\n", err)
      _, err, status = run(with { ONLYOFFICE_URL = helper.CLOSED_URL }, { "whoami" })
      assert.equal(4, status)
      assert.matches("^onlyoffice: network error: ", err)
      _, err, status = run(login, { "download", "999000", tmp .. "/no/such/dir/big.bin" })
      assert.equal(5, status)
      assert.matches("^onlyoffice: .+\n$", err)
      _, err, status = run(login, { "upload", "@my", tmp .. "/missing.bin" })
      assert.equal(5, status)
      assert.matches("^onlyoffice: .+\n$", err)
    end)

    it("asks for ONLYOFFICE_CODE from a two-factor account, and logs in with it", function()
      local _, err, status = run(with { ONLYOFFICE_USER = "tfa@example.com" }, { "whoami" })
      assert.equal(3, status)
      assert.matches("two-factor", err, 1, true)
      assert.matches("(set ONLYOFFICE_CODE)", err, 1, true)
      local out
      out, _, status = run(with { ONLYOFFICE_USER = "tfa@example.com", ONLYOFFICE_CODE = "123456" }, { "whoami" })
      assert.equal(0, status)
      assert.matches("<tfa@example.com>", out, 1, true)
    end)

    it("takes an API key from ONLYOFFICE_API_KEY, without logging in", function()
      local onlyoffice = require "onlyoffice"
      local admin = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
      local made = assert(admin:post("keys", { name = "cli", expiresInDays = 1,
        permissions = { "files:read", "accounts.self:read" } }))
      local before = portal:logins()
      local out, err, status = run({ ONLYOFFICE_URL = portal.docspace, ONLYOFFICE_API_KEY = made.key }, { "whoami" })
      assert.equal(0, status)
      assert.equal("", err)
      assert.equal("Ada Example <user@example.com>\n", out)
      assert.equal(before, portal:logins())
      -- The key wins over a login in the same environment.
      out, err, status = run({ ONLYOFFICE_URL = portal.docspace, ONLYOFFICE_API_KEY = made.key,
        ONLYOFFICE_USER = helper.USER, ONLYOFFICE_PASSWORD = "wrong-horse-8" }, { "whoami" })
      assert.equal(0, status)
      assert.equal("", err)
      assert.equal("Ada Example <user@example.com>\n", out)
      assert.equal(before, portal:logins())
      -- Outside the key's scopes: the portal's refusal is a credential failure.
      out, err, status = run({ ONLYOFFICE_URL = portal.docspace, ONLYOFFICE_API_KEY = made.key }, { "get", "people" })
      assert.equal(3, status)
      assert.matches("scope", err, 1, true)
      assert.equal("", out)
      assert(admin:delete("keys/" .. made.id))
      admin:close()
      out, err, status = run({ ONLYOFFICE_URL = portal.docspace, ONLYOFFICE_API_KEY = made.key }, { "whoami" })
      assert.equal(3, status)
      assert.equal("", out)
      assert.is_nil(err:find(made.key, 1, true))
    end)

    it("keeps the token in ONLYOFFICE_TOKEN_FILE, and otherwise logs out at the end", function()
      local file = tmp .. "/token.json"
      local before = portal:logins()
      for _ = 1, 2 do
        local _, _, status = run(with { ONLYOFFICE_TOKEN_FILE = file }, { "whoami" })
        assert.equal(0, status)
      end
      assert.equal(before + 1, portal:logins())
      assert.equal("600", helper.sh("stat -c %a " .. quote(file)):match("%d+"))
      local _, err = run(with { ONLYOFFICE_TRACE = "1" }, { "whoami" })
      assert.matches("> GET /api/2.0/people/@self\n< 200", err, 1, true)
      assert.matches("> POST /api/2.0/authentication/logout", err, 1, true)
    end)

    it("refuses credentials given as arguments, before sending anything", function()
      local before = portal:logins()
      for _, args in ipairs({ { "--password=hunter2-secret", "whoami" }, { "get", "people/@self", "--password",
        "hunter2-secret" }, { "--api-key", "sk-hunter2-secret", "whoami" }, { "--token=hunter2-secret", "whoami" },
        { "-u", "x", "whoami" } }) do
        local out, err, status = run({ ONLYOFFICE_URL = portal.docspace }, args)
        assert.equal(2, status)
        assert.equal("", out)
        assert.matches("^onlyoffice: ", err)
        assert.is_nil(err:find("hunter2", 1, true))
      end
      local _, err = run(login, { "--password=hunter2-secret", "whoami" })
      assert.matches("environment only", err, 1, true)
      assert.equal(before, portal:logins())
    end)

    it("needs ONLYOFFICE_URL and credentials in the environment", function()
      local _, err, status = run({ ONLYOFFICE_USER = helper.USER, ONLYOFFICE_PASSWORD = helper.PASSWORD }, { "whoami" })
      assert.equal(2, status)
      assert.matches("ONLYOFFICE_URL is not set", err, 1, true)
      _, err, status = run({ ONLYOFFICE_URL = portal.docspace }, { "whoami" })
      assert.equal(2, status)
      assert.matches("no credentials", err, 1, true)
    end)

    it("prints a usage on wrong arguments (exit 2) and on --help (exit 0)", function()
      for _, args in ipairs({ {}, { "frob" }, { "get" }, { "upload", "@my" }, { "whoami", "extra" },
        { "--frob", "whoami" }, { "get", "emu/echo", "novalue" }, { "get", "emu/echo", "raw:=1" },
        { "post", "emu/echo", "a=1", "a=2" }, { "post", "emu/echo", "a:={" }, { "download", "../x", "out" } }) do
        local out, err, status = run(login, args)
        assert.equal(2, status)
        assert.equal("", out)
        assert.matches("^onlyoffice: [^\n]+\nusage: onlyoffice ", err)
      end
      local out, err, status = run({}, { "--help" })
      assert.equal(0, status)
      assert.equal("", err)
      assert.matches("^usage: onlyoffice ", out)
      assert.matches("ONLYOFFICE_API_KEY", out, 1, true)
    end)

    it("prints indented JSON when asked with --pretty", function()
      local out = run(login, { "--pretty", "get", "people/@self" })
      assert.matches('^{\n  "activationStatus": 1,\n  "cultureName": "en%-US",\n  "displayName": "Ada Example",\n'
        .. '  "email": "user@example.com",\n', out)
    end)

    it("exits 5 when the standard output cannot be written", function()
      for _, args in ipairs({ { "get", "files/@my" }, { "ls" }, { "whoami" }, { "download", "999000", "-" } }) do
        local p = io.popen(command(login, args) .. " >/dev/full 2>" .. tmp .. "/stderr </dev/null; echo $?")
        local status = tonumber(p:read("*a"):match("%d+"))
        p:close()
        assert.equal(5, status, args[1])
        assert.matches("onlyoffice: ", helper.read_file(tmp .. "/stderr"), 1, true)
      end
    end)

    it("shows bidirectional overrides in portal text as escapes", function()
      local emu = require("onlyoffice.emulator").start({ users = { ["bidi@example.com"] = { password = "pw-123456",
        name = "RED\226\128\174fdp.exe" } } })
      local out, _, status = run({ ONLYOFFICE_URL = emu.url, ONLYOFFICE_USER = "bidi@example.com",
        ONLYOFFICE_PASSWORD = "pw-123456" }, { "whoami" })
      emu:stop()
      assert.equal(0, status)
      assert.equal("RED\\u202efdp.exe <bidi@example.com>\n", out)
    end)

    it("gives ls the same exit statuses as the other commands", function()
      local _, err, status = run({ ONLYOFFICE_URL = portal.docspace, ONLYOFFICE_API_KEY = "sk-" .. ("0"):rep(64) },
        { "ls" })
      assert.equal(3, status)
      assert.matches("API key was refused", err, 1, true)
      _, _, status = run({ ONLYOFFICE_URL = helper.CLOSED_URL, ONLYOFFICE_API_KEY = "sk-" .. ("0"):rep(64) },
        { "ls" })
      assert.equal(4, status)
    end)
  end)

  describe("in a terminal", function()
    local socket

    local function tmux(args)
      return helper.sh("tmux -S " .. quote(socket) .. " " .. args .. " 2>&1")
    end

    before_each(function()
      socket = tmp .. "/tmux.sock"
    end)
    after_each(function()
      tmux("kill-server")
    end)

    -- Runs shell commands in a new detached tmux session; returns the pane's whole text once they end.
    local function in_terminal(script)
      helper.write_file(tmp .. "/script.sh", script .. "\necho \"[exit $?]\"\nsleep 120\n")
      -- Nothing printed: tmux is there and the session started.
      assert.equal("", tmux("new-session -d -s cli -x 150 -y 60 " .. quote("sh " .. tmp .. "/script.sh")))
      local text = ""
      for _ = 1, 300 do
        text = tmux("capture-pane -p -J -S - -t cli")
        if text:find("[exit ", 1, true) then
          return text
        end
        helper.sh("sleep 0.1")
      end
      error("the tool did not finish in the terminal:\n" .. text)
    end

    it("shows a progress bar while downloading and indented JSON", function()
      local env = with {}
      local text = in_terminal(command(env, { "download", "999000", tmp .. "/big.bin" }) .. " && "
        .. command(env, { "get", "people/@self" }))
      assert.matches("[exit 0]", text, 1, true)
      local size = ("%.1f MiB"):format(BIG_MB)
      local bars = 0
      for line in text:gmatch("[^\n]+") do
        if line:find("%", 1, true) then
          bars = bars + 1
          assert.matches("^100%% %[#+%] " .. size .. " / " .. size .. "  [%d.]+ [KMG]?i?B/s  ETA 0:00 *$", line)
        end
      end
      assert.equal(1, bars) -- redrawn in place: one line, whatever the number of redraws
      assert.matches('\n  "displayName": "Ada Example",\n  "email": "user@example.com",\n', text, 1, true)
      assert.matches('\n{\n  "activationStatus": 1,\n', text, 1, true)
      assert.matches('\n  "userName": "user"\n}\n', text, 1, true)
      assert.equal(BIG_MB * 1048576, #helper.read_file(tmp .. "/big.bin"))
    end)

    it("shows a progress bar while uploading, then the entry", function()
      helper.write_file(tmp .. "/up.bin", ("u"):rep(3 * 1048576))
      local text = in_terminal(command(with {}, { "upload", "@my", tmp .. "/up.bin" }))
      assert.matches("[exit 0]", text, 1, true)
      assert.matches("\n?100%% %[#+%] 3%.0 MiB / 3%.0 MiB  [^\n]+ETA 0:00 *\n{\n", text)
      assert.matches('\n  "title": "up.bin",\n', text, 1, true)
    end)
  end)
end)

describe("onlyoffice command's JSON", function()
  it("sorts keys, indents by two, and prints empty tables as []", function()
    local value = { b = { 1, 2, { z = true, a = require("onlyoffice").null } }, a = {}, c = "x" }
    assert.equal('{"a":[],"b":[1,2,{"a":null,"z":true}],"c":"x"}', cli_json.encode(value))
    assert.equal('{\n  "a": [],\n  "b": [\n    1,\n    2,\n    {\n      "a": null,\n      "z": true\n    }\n  ],\n'
      .. '  "c": "x"\n}', cli_json.encode(value, true))
  end)

  it("escapes quotes, control characters and C1 controls", function()
    assert.equal('"a\\"b\\\\c\\n\\u001b[31m\\u007f\\u009b!é"', cli_json.string('a"b\\c\n\27[31m\127\194\155!é'))
  end)

  it("writes numbers exactly", function()
    assert.equal("[0.1,-3,1e+300,123456789012345,null]", cli_json.encode({ 0.1, -3, 1e300, 123456789012345, 0 / 0 }))
  end)

  it("tells JSON scalars from other text", function()
    for _, t in ipairs({ "0", "-1", "1.5", "1e5", "-2.5E-3", "true", "false", "null" }) do
      assert.is_true(cli_json.scalar(t), t)
    end
    for _, t in ipairs({ "", "007", "+1", "1.", ".5", "1e", "0x10", "True", "1 ", "nan", "-" }) do
      assert.is_false(cli_json.scalar(t), t)
    end
  end)
end)

describe("onlyoffice command's progress bar", function()
  it("draws bytes, percent, rate and ETA", function()
    assert.equal(" 50% [##########          ] 512.0 KiB / 1.0 MiB  512.0 KiB/s  ETA 0:01",
      progress.line(524288, 1048576, 1))
    assert.equal("3.0 MiB  1.5 MiB/s", progress.line(3 * 1048576, nil, 2))
    assert.equal("1:01:01", progress.duration(3661))
  end)

  it("redraws in place at most ten times a second, and always at the end", function()
    local now, written = 0, {}
    local bar = progress.new { clock = function() return now end, write = function(t) written[#written + 1] = t end }
    for _, t in ipairs({ 0, 0.05, 0.09, 0.1, 0.15, 0.199, 0.25, 0.26 }) do
      now = t
      bar.update(math.floor(t * 1000), 1000)
    end
    now = 0.27
    bar.update(1000, 1000)
    bar.update(1000, 1000)
    bar.finish()
    assert.equal(5, #written) -- at 0, 0.1, 0.25, the end, and the newline
    for i = 1, 4 do
      assert.matches("^\r", written[i])
    end
    assert.matches("^\r100%% ", written[4])
    assert.equal("\n", written[5])
  end)

  it("draws rates below a byte a second's precision (fractions) on every runtime", function()
    assert.matches("667 B/s", progress.line(1000, 1000, 1.5), 1, true)
    assert.matches("0 B/s", progress.line(0, nil, 3), 1, true)
  end)

  it("writes nothing when nothing was drawn", function()
    local written = 0
    local bar = progress.new { clock = function() return 0 end, write = function() written = written + 1 end }
    bar.finish()
    assert.equal(0, written)
  end)
end)
