-- types/ (LuaCATS for lua-language-server, and the source of docs/) against
-- the module itself: every public function, method, option and detail kind
-- that the code has must be declared there, and every type it names must exist.
-- lua-language-server is no Debian 12 package, so its --check does not run here.
require "spec.helper"
local onlyoffice = require "onlyoffice"

local FILES = { "types/onlyoffice.lua", "types/onlyoffice/webhook.lua", "types/onlyoffice/ngx.lua",
  "types/onlyoffice/emulator.lua" }

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local all = {}
for i, path in ipairs(FILES) do
  all[i] = read(path)
end
local types = table.concat(all, "\n")

-- The `---@field` names of one class, as a set.
local function fields(class)
  local body = types:match("%-%-%-@class " .. class:gsub("%.", "%%.") .. "[^\n]*\n(.-)\n[^-]")
  assert(body, "no class " .. class)
  local set = {}
  for name in body:gmatch("%-%-%-@field ([%w_]+)") do
    set[name] = true
  end
  return set
end

-- A local table literal of a source file (`local NAME = { ... }`), evaluated.
local function source_table(path, name)
  local literal = read(path):match("\nlocal " .. name .. " = (%b{})")
  assert(literal, name .. " not found in " .. path)
  return assert((loadstring or load)("return " .. literal))()
end

local function keys(t)
  local list = {}
  for k in pairs(t) do
    list[#list + 1] = tostring(k)
  end
  table.sort(list)
  return list
end

local function missing(names, set)
  local out = {}
  for _, name in ipairs(names) do
    if not set[name] then
      out[#out + 1] = name
    end
  end
  return out
end

describe("types/", function()
  it("parses as Lua", function()
    for _, path in ipairs(FILES) do
      assert.is_function((loadstring or load)(read(path), "@" .. path))
    end
  end)

  it("declares every field and function of the module table", function()
    local declared = fields("onlyoffice")
    for name in types:gmatch("\nfunction onlyoffice%.([%w_]+)%(") do
      declared[name] = true
    end
    assert.same({}, missing(keys(onlyoffice), declared))
  end)

  it("declares every method of a live session", function()
    local s = onlyoffice.session("http://127.0.0.1:1", "token-for-types")
    local declared = {}
    for name in types:gmatch("\nfunction Session:([%w_]+)%(") do
      declared[name] = true
    end
    local methods = keys(debug.getmetatable(s).__index)
    s:close()
    assert.is_true(#methods >= 17)
    assert.same({}, missing(methods, declared))
  end)

  it("declares onlyoffice.webhook's functions and onlyoffice.ngx's", function()
    local declared = {}
    for name in types:gmatch("\nfunction webhook%.([%w_]+)%(") do
      declared[name] = true
    end
    assert.same({}, missing(keys(require "onlyoffice.webhook"), declared))
    local portal = {}
    for name in types:gmatch("\nfunction Portal:([%w_]+)%(") do
      portal[name] = true
    end
    local methods = {}
    for name in read("lua/onlyoffice/ngx.lua"):gmatch("\nfunction Portal:([%w_]+)%(") do
      methods[#methods + 1] = name
    end
    assert.is_true(#methods >= 5)
    assert.same({}, missing(methods, portal))
    assert.same({}, missing(keys(require "onlyoffice.ngx"), { new = true }))
    assert.truthy(types:find("\nfunction ngx_helper.new(", 1, true))
  end)

  it("declares onlyoffice.emulator: start, its options and the portal's methods", function()
    local emu = read("types/onlyoffice/emulator.lua")
    local declared = {}
    for name in emu:gmatch("\nfunction Portal:([%w_]+)%(") do
      declared[name] = true
    end
    local methods = {}
    for name in read("lua/onlyoffice/emulator.lua"):gmatch("\nfunction Portal:([%w_]+)%(") do
      methods[#methods + 1] = name
    end
    assert.is_true(#methods >= 4)
    assert.same({}, missing(methods, declared))
    assert.truthy(emu:find("\nfunction emulator.start(", 1, true))
    local options = {}
    local known = read("lua/onlyoffice/emulator.lua"):match("local known = (%b{})") or ""
    for name in known:gmatch("([%w_]+) = true") do
      options[#options + 1] = name
    end
    assert.is_true(#options >= 4)
    local option_fields = {}
    for name in (emu:match("@class onlyoffice.EmulatorOptions\n(.-)\n\n") or ""):gmatch("@field ([%w_]+)") do
      option_fields[name] = true
    end
    assert.same({}, missing(options, option_fields))
  end)

  it("declares every session option of args.lua's OPTIONS", function()
    local options = keys(source_table("lua/onlyoffice/args.lua", "OPTIONS"))
    assert.is_true(#options >= 17)
    assert.same({}, missing(options, fields("onlyoffice.Options")))
  end)

  it("declares every credential field and every per-call option", function()
    local function check(path, name, class)
      assert.same({}, missing(keys(source_table(path, name)), fields(class)), path .. " " .. name)
    end
    check("lua/onlyoffice/args.lua", "REQUEST_OPTIONS", "onlyoffice.RequestOptions")
    check("lua/onlyoffice/upload.lua", "OPTIONS", "onlyoffice.UploadOptions")
    check("lua/onlyoffice/download.lua", "OPTIONS", "onlyoffice.DownloadOptions")
    check("lua/onlyoffice/pages.lua", "OPTIONS", "onlyoffice.PagesOptions")
    check("lua/onlyoffice/batch.lua", "OPTIONS", "onlyoffice.BatchOptions")
    check("lua/onlyoffice/operation.lua", "OPTIONS", "onlyoffice.OperationOptions")
    check("lua/onlyoffice/operation.lua", "BULK_OPTIONS", "onlyoffice.BulkOptions")
    check("lua/onlyoffice/ngx.lua", "CONFIG_KEYS", "onlyoffice.ngx.Settings")
    local creds = source_table("lua/onlyoffice/credentials.lua", "FIELDS")
    assert.same({}, missing(creds, fields("onlyoffice.SessionCredentials")))
    assert.same({}, missing(keys(require("onlyoffice.ngx_credentials").ENV), fields("onlyoffice.ngx.Settings")))
    local batch_keys = {}
    for _, k in ipairs(keys(source_table("lua/onlyoffice/batch.lua", "ITEM_KEYS"))) do
      batch_keys[#batch_keys + 1] = k:match("^%d$") and ("[" .. k .. "]") or k
    end
    local declared = fields("onlyoffice.BatchRequest")
    for n in types:match("@class onlyoffice.BatchRequest.-\n[^-]"):gmatch("@field (%[%d%])") do
      declared[n] = true
    end
    assert.same({}, missing(batch_keys, declared))
  end)

  it("lists every detail.kind of the README's table in onlyoffice.Kind", function()
    local kinds = {}
    for kind in read("README.md"):gmatch('\n| `"([%w_]+)"` |') do
      kinds[#kinds + 1] = kind
    end
    assert.is_true(#kinds >= 16)
    local declared = {}
    for kind in types:match("@alias onlyoffice.Kind(.-)\n[^-]"):gmatch('%-%-%-| "([%w_]+)"') do
      declared[kind] = true
    end
    assert.same({}, missing(kinds, declared))
  end)

  it("defines every onlyoffice.* type it names", function()
    local defined = { onlyoffice = true }
    for name in types:gmatch("%-%-%-@class ([%w_%.]+)") do
      defined[name] = true
    end
    for name in types:gmatch("%-%-%-@alias ([%w_%.]+)") do
      defined[name] = true
    end
    local unknown = {}
    for line in types:gmatch("%-%-%-@[^\n]+") do
      if not line:match("^%-%-%-@class") and not line:match("^%-%-%-@alias") and not line:match("^%-%-%-@meta") then
        for name in line:gmatch("onlyoffice%.[%w_%.]*[%w_]") do
          -- Descriptions name module functions too (`onlyoffice.array{}`): only types count.
          if not defined[name] and not onlyoffice[name:match("^onlyoffice%.([%w_]+)$") or ""] then
            unknown[#unknown + 1] = name .. " in " .. line
          end
        end
      end
    end
    assert.same({}, unknown)
  end)
end)
