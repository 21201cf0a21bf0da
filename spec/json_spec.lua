-- onlyoffice.json alone: exact integers, json.array, placeholders that never meet
-- user data, and cjson's refusals kept. No emulator, and of the C module only
-- core.integers (which json.lua loads): the paths are set here as spec/helper.lua
-- sets them, without loading the emulator or the whole module.
local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]*$") or "."
local runtime = jit and "jit" or _VERSION:match("%d+%.%d+")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("ONLYOFFICE_CPATH") or (root .. "/build/" .. runtime .. "/?.so")) .. ";"
  .. package.cpath

local cjson = require "cjson"
local json = require "onlyoffice.json"

-- Integer subtype (Lua 5.3+): values above 2^53 exist only there.
local has_integers = math.type ~= nil

-- cjson as json.lua sets it up, for what must stay as cjson writes it.
local ref = cjson.new()
if not pcall(ref.encode_number_precision, 16) then
  ref.encode_number_precision(14)
end

local function encoded(value)
  local text, err = json.encode(value)
  assert(text, err)
  return text
end

-- A value of `depth` nested one-element arrays around `inner`.
local function nest(depth, inner)
  local v = inner
  for _ = 1, depth do
    v = { v }
  end
  return v
end

describe("json.encode", function()
  describe("integers", function()
    it("keeps 15 digits", function()
      assert.equal('{"id":123456789012345}', encoded({ id = 123456789012345 }))
      assert.equal('{"id":-123456789012345}', encoded({ id = -123456789012345 }))
      assert.equal("[100000000000000,999999999999999]", encoded({ 100000000000000, 999999999999999 }))
    end)

    it("keeps small integers as cjson writes them", function()
      assert.equal('{"n":1234}', encoded({ n = 1234 }))
      assert.equal("[0,-1,99999999999999,-99999999999999]", encoded({ 0, -1, 99999999999999, -99999999999999 }))
    end)

    it("writes integral doubles with all their digits, never in exponent form", function()
      assert.equal("[1152921504606846976]", encoded({ 2 ^ 60 }))
      assert.equal("[-1152921504606846976]", encoded({ -2 ^ 60 }))
      assert.equal("[1000000000000000]", encoded({ 1e15 }))
      assert.equal("[9007199254740992]", encoded({ 2 ^ 53 }))
      assert.equal("[-9223372036854775808]", encoded({ -2 ^ 63 }))
      assert.equal("1152921504606846976", encoded(2 ^ 60))
    end)

    it("leaves doubles outside the int64 range to cjson", function()
      assert.equal(ref.encode({ 2 ^ 63 }), encoded({ 2 ^ 63 }))
      assert.equal(ref.encode({ 1e300 }), encoded({ 1e300 }))
    end)

    if has_integers then
      it("keeps integers above 2^53 (Lua 5.3+)", function()
        local above = math.tointeger(2 ^ 53) + 1
        assert.equal("[9007199254740993]", encoded({ above }))
        assert.equal("[-9007199254740993]", encoded({ -above }))
        assert.equal('{"max":9223372036854775807}', encoded({ max = math.maxinteger }))
        assert.equal('{"min":-9223372036854775808}', encoded({ min = math.mininteger }))
        assert.equal("9223372036854775807", encoded(math.maxinteger))
      end)
    else
      pending("integers above 2^53: no integer subtype on " .. _VERSION .. (jit and " (LuaJIT)" or ""))
    end

    it("keeps them in nested tables", function()
      assert.equal('{"a":{"b":{"c":123456789012345}}}', encoded({ a = { b = { c = 123456789012345 } } }))
      assert.equal('[[[1152921504606846976]],{"x":-123456789012345}]',
        encoded({ { { 2 ^ 60 } }, { x = -123456789012345 } }))
    end)

    it("keeps them in arrays of big integers", function()
      local list, want = {}, {}
      for i = 1, 50 do
        list[i] = 123456789012345 + i
        want[i] = string.format("%.0f", 123456789012345 + i)
      end
      list[51], want[51] = 2 ^ 60, "1152921504606846976"
      list[52], want[52] = -987654321098765, "-987654321098765"
      assert.equal("[" .. table.concat(want, ",") .. "]", encoded(list))
    end)

    it("writes a number key of an object with all its digits", function()
      local doc = json.decode(encoded({ [2 ^ 60] = true, name = "x" }))
      assert.same({ ["1152921504606846976"] = true, name = "x" }, doc)
    end)

    it("keeps them at the deepest level cjson allows", function()
      assert.equal(string.rep("[", 1000) .. "1152921504606846976" .. string.rep("]", 1000),
        encoded(nest(999, { 2 ^ 60 })))
    end)
  end)

  describe("floats", function()
    it("are written as cjson writes them", function()
      for _, f in ipairs({ 0.1, 1 / 3, -2.25, 1.5e-7, 123456789012345.5, -0.0, 1e300 }) do
        assert.equal(ref.encode({ f }), encoded({ f }))
      end
      -- Debian's cjson: 14 significant digits.
      assert.equal(ref.encode({ 1 / 3 }), (encoded({ 2 ^ 60, 1 / 3 }):gsub("^%[1152921504606846976,", "[")))
    end)
  end)

  describe("json.array", function()
    it("sends an empty marked table as [] at top level", function()
      assert.equal("[]", encoded(json.array({})))
      assert.equal("[]", encoded(json.array()))
    end)

    it("sends an empty marked table as [] when nested", function()
      assert.equal('{"fileIds":[]}', encoded({ fileIds = json.array({}) }))
      assert.equal("[[],[[]]]", encoded({ json.array(), { json.array() } }))
      assert.equal('{"a":{"b":[]}}', encoded({ a = { b = json.array() } }))
    end)

    it("sends a marked table that is not empty as an array", function()
      assert.equal("[1,2,3]", encoded(json.array({ 1, 2, 3 })))
      assert.equal('{"ids":[123456789012345,"x"]}', encoded({ ids = json.array({ 123456789012345, "x" }) }))
    end)

    it("leaves a plain empty table as cjson's {}", function()
      assert.equal("{}", encoded({}))
      assert.equal('{"a":{}}', encoded({ a = {} }))
      assert.equal("[[],{}]", encoded({ json.array(), {} }))
      assert.equal("[{},1152921504606846976]", encoded({ {}, 2 ^ 60 }))
    end)

    it("marks and returns the table it is given", function()
      local t = {}
      assert.equal(t, json.array(t))
      assert.equal(json.array_mt, getmetatable(t))
      assert.equal(json.array_mt, getmetatable(json.array()))
    end)

    it("refuses what it cannot mark", function()
      assert.has_error(function() json.array("x") end, "json.array expects a table or nothing, got string")
      assert.has_error(function() json.array(setmetatable({}, {})) end,
        "json.array: the table already has a metatable")
      assert.has_error(function() json.array_mt.__index = {} end)
    end)

    it("leaves the table itself untouched by encoding", function()
      local t = { ids = json.array(), n = 2 ^ 60 }
      encoded(t)
      assert.equal(2 ^ 60, t.n)
      assert.equal(json.array_mt, getmetatable(t.ids))
      assert.is_nil(next(t.ids))
    end)
  end)

  describe("user strings", function()
    it("that look like placeholders stay as they are", function()
      local strings = { "__oojson1_1", "__oojson", '"__oojson2_1"', "__oojson_", "x__oojson00_1y" }
      for k = 1, 300 do
        strings[#strings + 1] = "__oojson" .. k .. "_" .. k
        strings[#strings + 1] = "__oojson" .. k .. "_1"
      end
      local value = { strings = strings, n = 2 ^ 60, empty = json.array(), ["__oojson3_1"] = "__oojson3_2" }
      local text = encoded(value)
      local doc = json.decode(text)
      assert.same(strings, doc.strings)
      assert.same({}, doc.empty)
      assert.equal("__oojson3_2", doc["__oojson3_1"])
      assert.truthy(text:find('"n":1152921504606846976', 1, true))
      assert.truthy(text:find('"empty":[]', 1, true))
    end)

    it("that hold digits after the prefix's base stay as they are", function()
      -- The strings hold the prefixes of the first 1000 nonces, so the first
      -- choice collides and the nonce of more digits than any string holds is used.
      local s = "__oojson" .. string.rep("0", 40) .. "_1"
      local value = { s, "__oojson0_1", "__oojson00_1", 2 ^ 60, json.array() }
      for nonce = 1, 1000 do
        value[#value + 1] = "__oojson" .. nonce .. "_1"
      end
      local doc = json.decode(encoded(value))
      assert.equal(s, doc[1])
      assert.equal("__oojson0_1", doc[2])
      assert.equal("__oojson00_1", doc[3])
      assert.same({}, doc[5])
      for i = 6, #value do
        assert.equal(value[i], doc[i])
      end
    end)

    it("that hold e+ or {} come out as cjson writes them", function()
      local value = { text = "name+e+{}", list = { "{}", "1e+20" } }
      assert.same(json.decode(ref.encode(value)), json.decode(encoded(value)))
      assert.equal('["a{}e+"]', encoded({ "a{}e+" }))
    end)
  end)

  describe("round trip", function()
    it("gives back what was encoded", function()
      local value = { id = 123456789012345, big = 2 ^ 60, neg = -123456789012345, f = 0.5, s = "é\"\\/",
        list = { 1, 2, 3 }, empty = json.array(), nested = { t = true, n = json.null } }
      local doc = json.decode(encoded(value))
      assert.equal(123456789012345, doc.id)
      assert.equal(2 ^ 60, doc.big)
      assert.equal(-123456789012345, doc.neg)
      assert.equal(0.5, doc.f)
      assert.equal("é\"\\/", doc.s)
      assert.same({ 1, 2, 3 }, doc.list)
      assert.same({}, doc.empty)
      assert.equal(json.null, doc.nested.n)
      assert.is_true(doc.nested.t)
    end)

    if has_integers then
      it("gives integers within 2^53 back as integers (Lua 5.3+)", function()
        local doc = json.decode(encoded({ 123456789012345, -123456789012345, 2 ^ 53, 1234, 1e15, 0.5 }))
        for i = 1, 5 do
          assert.equal("integer", math.type(doc[i]))
        end
        assert.equal(math.tointeger(2 ^ 53), doc[3])
        assert.equal("float", math.type(doc[6]))
      end)
    else
      pending("math.type after decode: no integer subtype on " .. _VERSION .. (jit and " (LuaJIT)" or ""))
    end
  end)

  describe("refusals", function()
    it("refuse NaN and infinities with nil and a message", function()
      for _, v in ipairs({ { x = 0 / 0 }, { 1 / 0 }, { -1 / 0 }, { 2 ^ 60, 0 / 0 }, { json.array(), 1 / 0 } }) do
        local text, err = json.encode(v)
        assert.is_nil(text)
        assert.matches("NaN or Inf", err)
      end
      local text, err = json.encode(0 / 0)
      assert.is_nil(text)
      assert.is_string(err)
    end)

    it("refuse a cyclic table with nil and a message", function()
      local plain = { name = "loop" }
      plain.self = plain
      local helped = { n = 2 ^ 60, empty = json.array() }
      helped.list = { helped }
      for _, v in ipairs({ plain, helped }) do
        local text, err = json.encode(v)
        assert.is_nil(text)
        assert.matches("nesting", err)
      end
    end)

    it("refuse nesting deeper than cjson allows", function()
      local text, err = json.encode(nest(1000, { 2 ^ 60 }))
      assert.is_nil(text)
      assert.matches("nesting", err)
    end)

    it("refuse what cjson cannot write", function()
      local text, err = json.encode({ f = print, n = 2 ^ 60 })
      assert.is_nil(text)
      assert.is_string(err)
    end)
  end)

  it("writes other values as cjson does", function()
    assert.equal('"x"', encoded("x"))
    assert.equal("true", encoded(true))
    assert.equal("5", encoded(5))
    assert.equal("null", encoded(json.null))
  end)
end)

describe("json.decode", function()
  it("gives the value, or nil and a message", function()
    assert.same({ a = { 1, 2 } }, json.decode('{"a":[1,2]}'))
    local value, err = json.decode("{")
    assert.is_nil(value)
    assert.is_string(err)
  end)

  it("gives null as json.null", function()
    assert.equal(cjson.null, json.null)
    assert.equal(json.null, json.decode('{"a":null}').a)
  end)
end)
