-- The version is written once, in lua/onlyoffice/version.lua: the module, the
-- default User-Agent (request_spec sees it on the wire), the released rockspec,
-- the README and the changelog follow it.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

local VERSION = require "onlyoffice.version"

local function read(name)
  local f = assert(io.open(helper.root .. "/" .. name, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

describe("the version", function()
  it("is MAJOR.MINOR.PATCH, and the module's _VERSION", function()
    assert.is_string(VERSION)
    assert.truthy(VERSION:match("^%d+%.%d+%.%d+$"), VERSION)
    assert.equal(VERSION, onlyoffice._VERSION)
  end)

  it("names the released rockspec, whose version field says it too", function()
    local text = read("onlyoffice-" .. VERSION .. "-1.rockspec")
    assert.equal(VERSION .. "-1", text:match('\nversion = "([^"]+)"'))
    assert.equal("onlyoffice-" .. VERSION, text:match('\n  dir = "([^"]+)"'))
    assert.truthy(text:find("/archive/v" .. VERSION .. ".tar.gz", 1, true))
  end)

  it("is the only one the README's install text and the changelog's top entry name", function()
    local readme = read("README.md")
    local named = 0
    for v in readme:gmatch("onlyoffice%-(%d+%.%d+%.%d+)%-1") do
      assert.equal(VERSION, v)
      named = named + 1
    end
    assert.is_true(named > 0, "the README names no released rock")
    for v in readme:gmatch("lua%-onlyoffice/(%d+%.%d+%.%d+)") do
      assert.equal(VERSION, v)
    end
    assert.equal(VERSION, read("CHANGELOG.md"):match("\n## %[(%d+%.%d+%.%d+)%]"))
  end)
end)
