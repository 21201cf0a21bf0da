-- The few public functions of onlyoffice.core, and what it keeps private.
local helper = require "spec.helper"
local core = require "onlyoffice.core"
require "onlyoffice"

describe("onlyoffice.core", function()
  local dir
  setup(function()
    dir = helper.sh("mktemp -d /tmp/onlyoffice-core.XXXXXX"):match("%S+")
  end)
  teardown(function()
    helper.sh("rm -rf '" .. dir .. "'")
  end)

  it("hands its internals to the module and to nobody after it", function()
    local ok, priv = pcall(core.internals) -- false once taken, or raises on a core loaded since
    assert.is_false(ok and type(priv) == "table")
    for _, name in ipairs({ "new", "send", "redact", "set_token", "credentials", "login" }) do
      assert.is_nil(core[name], name)
    end
  end)

  describe("file_size", function()
    it("gives the size of a regular file", function()
      helper.write_file(dir .. "/five", "12345")
      assert.equal(5, core.file_size(dir .. "/five"))
    end)

    it("refuses a directory and a missing path with a message", function()
      local size, err = core.file_size(dir)
      assert.is_nil(size)
      assert.matches("is not a regular file", err, 1, true)
      size, err = core.file_size(dir .. "/missing")
      assert.is_nil(size)
      assert.matches("No such file or directory", err, 1, true)
    end)
  end)

  describe("read_private and write_private", function()
    it("reads a file of this user with mode 0600 or 0400", function()
      for _, mode in ipairs({ "600", "400" }) do
        helper.write_file(dir .. "/secret", "password = x\n")
        helper.sh("chmod " .. mode .. " '" .. dir .. "/secret'")
        assert.equal("password = x\n", core.read_private(dir .. "/secret"), mode)
        helper.sh("rm -f '" .. dir .. "/secret'")
      end
    end)

    it("refuses a file others can read or write, a directory and a FIFO; checks a link's target", function()
      for _, mode in ipairs({ "644", "640", "602", "660" }) do
        helper.write_file(dir .. "/shared", "password = x\n")
        helper.sh("chmod " .. mode .. " '" .. dir .. "/shared'")
        local ok, err = core.read_private(dir .. "/shared")
        assert.is_nil(ok, mode)
        assert.matches("mode 0600 or 0400", err, 1, true)
        helper.sh("rm -f '" .. dir .. "/shared'")
      end
      assert.is_nil(core.read_private(dir))
      helper.write_file(dir .. "/target", "x")
      helper.sh("chmod 600 '" .. dir .. "/target'; ln -s '" .. dir .. "/target' '" .. dir .. "/link'; mkfifo '"
        .. dir .. "/fifo'; chmod 600 '" .. dir .. "/fifo'")
      assert.equal("x", core.read_private(dir .. "/link")) -- mounted secrets are links: the target counts
      helper.sh("chmod 644 '" .. dir .. "/target'")
      local ok, err = core.read_private(dir .. "/link")
      assert.is_nil(ok)
      assert.matches("mode 0600 or 0400", err, 1, true)
      ok, err = core.read_private(dir .. "/fifo") -- at once, not waiting for a writer
      assert.is_nil(ok)
      assert.matches("regular file", err, 1, true)
      helper.sh("rm -f '" .. dir .. "/target' '" .. dir .. "/link' '" .. dir .. "/fifo'")
      assert.is_false(core.read_private(dir .. "/missing"))
    end)

    it("writes atomically a new file of mode 0600, replacing the old one", function()
      local path = dir .. "/tokens"
      helper.write_file(path, "old")
      helper.sh("chmod 644 '" .. path .. "'")
      assert.is_true(core.write_private(path, "new\0bytes"))
      assert.equal("600", helper.sh("stat -c %a '" .. path .. "'"):match("%d+"))
      assert.equal("new\0bytes", core.read_private(path))
      assert.equal("", helper.sh("ls '" .. dir .. "' | grep 'tokens.' || true"))
      local ok, err = core.write_private(dir .. "/no/such/dir", "x")
      assert.is_nil(ok)
      assert.matches("cannot write", err, 1, true)
      helper.sh("rm -f '" .. path .. "'")
    end)
  end)

  describe("utf8_valid", function()
    local cases = {
      { "plain ASCII", "abc", true },
      { "two, three and four bytes", "\195\169\226\130\172\240\159\152\128", true },
      { "the highest code point", "\244\143\191\191", true },
      { "above U+10FFFF", "\244\144\128\128", false, 1 },
      { "an overlong two-byte form", "a\192\175", false, 2 },
      { "an overlong three-byte form", "\224\128\175", false, 1 },
      { "an overlong four-byte form", "\240\128\128\175", false, 1 },
      { "a surrogate", "\237\160\128", false, 1 },
      { "a sequence cut short", "ab\226\130", false, 3 },
      { "a bad continuation byte", "\226\40\161", false, 1 },
      { "a lone continuation byte", "\128", false, 1 },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local ok, at = core.utf8_valid(c[2])
        assert.equal(c[3], ok)
        assert.equal(c[4], at)
      end)
    end
  end)

  describe("integers", function()
    if not core.integers then
      pending("Lua 5.1 and LuaJIT have no integer subtype")
      return
    end
    it("turns integral floats into integers, in tables and alone", function()
      local t = core.integers({ a = 1.0, b = { 2.0, 2.5 }, c = "3" })
      assert.equal("integer", math.type(t.a))
      assert.equal("integer", math.type(t.b[1]))
      assert.equal("float", math.type(t.b[2]))
      assert.equal("integer", math.type(core.integers(7.0)))
      assert.equal("float", math.type(core.integers(7.5)))
      assert.equal("float", math.type(core.integers(2.0 ^ 60)))
      assert.equal("x", core.integers("x"))
    end)

    it("stops at a depth no answer needs", function()
      local t = {}
      local leaf = t
      for _ = 1, 1100 do
        leaf[1] = {}
        leaf = leaf[1]
      end
      local ok, err = pcall(core.integers, t)
      assert.is_false(ok)
      assert.matches("nested too deeply", err, 1, true)
    end)
  end)

  it("has a monotonic clock in seconds, for operation deadlines", function()
    local t0 = core.clock()
    core.sleep(0.05)
    local t1 = core.clock()
    assert.is_true(t1 - t0 >= 0.05 and t1 - t0 < 5)
  end)

  it("sleeps at most a day whatever it is asked, and not at all for nothing", function()
    local clock = os.clock
    local t0 = clock()
    core.sleep(0)
    core.sleep(-1)
    core.sleep(0 / 0)
    core.sleep(0.01)
    assert.is_true(clock() - t0 < 1)
  end)
end)
