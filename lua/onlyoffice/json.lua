-- A private lua-cjson instance, so the user's cjson settings are never touched,
-- and integers that stay integers on Lua 5.3+ whichever cjson build is installed.
--
-- Encoding adds two things cjson lacks (Debian's lua-cjson 2.1.0 has neither
-- empty_array nor array_mt, and writes numbers with at most 14 digits):
--   * integers, and integral floats within the int64 range, are written with all
--     their digits and never in exponent form (123456789012345, 2^53 + 1,
--     math.maxinteger; 2^60 as a float on Lua 5.1/LuaJIT);
--   * json.array(t) marks a table that is sent as a JSON array even when empty.
-- Other floats are written as cjson writes them: 14 significant digits with
-- Debian's build, 16 with OpenResty's. NaN and infinities are refused.
--
-- How: a walk finds whether the value holds such a number or an empty marked
-- array; if not, cjson's text is the answer. If so, a copy is encoded in which
-- each of them is a placeholder string, and the quoted placeholders are then
-- replaced by the digits or `[]`. A placeholder is "__oojson<nonce>_<n>"; the
-- nonce is a per-call counter, and when a string in the value (key or value)
-- holds the prefix "__oojson<nonce>_", the copy is made again with a nonce that
-- none of them can hold, so user data never collides with a placeholder.
-- Where cjson's text itself tells that nothing needs help (see PREFILTER), the
-- walk is skipped: the common body costs one encode and two searches.
local cjson = require "cjson.safe"
local core = require "onlyoffice.core"

local M = {}

local codec = cjson.new()
-- Debian's cjson allows at most 14 digits; OpenResty's allows 16.
local precision = 16
if not pcall(codec.encode_number_precision, precision) then
  precision = 14
  codec.encode_number_precision(precision)
end
codec.decode_invalid_numbers(false)
codec.encode_invalid_numbers(false)
-- cjson's own default, set here because the walk below stops at the same depth.
local MAX_DEPTH = 1000
codec.encode_max_depth(MAX_DEPTH)

M.null = cjson.null

local decode, encode = codec.decode, codec.encode
local integers = core.integers
-- Only builds that decode every number as a float need the fix-up pass.
if integers and math.type and math.type(decode("[1]")[1]) == "integer" then
  integers = nil
end

--- Decodes text; returns the value, or nil and cjson's message.
function M.decode(text)
  local value, err = decode(text)
  if value == nil then
    return nil, err
  end
  if integers then
    value = integers(value)
  end
  return value
end

---------------------------------------------------------------------------
-- Arrays
---------------------------------------------------------------------------

local array_mt = { __name = "onlyoffice.json.array" }
M.array_mt = setmetatable(array_mt, {
  __newindex = function()
    error("onlyoffice.json.array_mt is read-only", 2)
  end,
  __metatable = false,
})

--- Marks table t (a new one when nil) to be sent as a JSON array, `[]` when
--- empty; returns it. A marked table that is not empty is written as cjson
--- writes any table: an array when its keys are 1..n.
function M.array(t)
  if t == nil then
    return setmetatable({}, array_mt)
  end
  if type(t) ~= "table" then
    error("json.array expects a table or nothing, got " .. type(t), 2)
  end
  local mt = getmetatable(t)
  if mt ~= nil and mt ~= array_mt then
    error("json.array: the table already has a metatable", 2)
  end
  return setmetatable(t, array_mt)
end

---------------------------------------------------------------------------
-- Numbers
---------------------------------------------------------------------------

local floor, format, find, gsub, gmatch, rep = math.floor, string.format, string.find, string.gsub,
  string.gmatch, string.rep
local tostring, type, next, ipairs, getmetatable = tostring, type, next, ipairs, getmetatable
local mtype = math.type

-- Below LIMIT in magnitude cjson writes an integer exactly and without an
-- exponent (%.14g or %.16g). An integer subtype above 2^53 loses digits when
-- cjson turns it into a double, so the limit is never above 2^53.
local LIMIT = math.min(10 ^ precision, 2 ^ 53)
local INT64 = 2 ^ 63

-- With LIMIT == 10^precision, cjson writes every number of magnitude LIMIT or
-- more in exponent form ("%.14g" of 1e14 is "1e+14"), so a text without "e+"
-- holds no number that needs help, and one without "{}" no empty marked array
-- (cjson writes any empty table as {}). Not so when an integer subtype between
-- 2^53 and 10^16 meets a 16-digit cjson: then the walk always runs.
local PREFILTER = LIMIT == 10 ^ precision or not mtype

--- Whether cjson would not write n exactly (and it can be written exactly).
--- Callers test `n < LIMIT and n > -LIMIT` first, which passes most numbers.
local function inexact(n)
  if n < LIMIT and n > -LIMIT then
    return false
  end
  -- NaN fails n == floor(n); infinities and floats outside int64 stay with cjson.
  return (mtype and mtype(n) == "integer") or (n == floor(n) and n >= -INT64 and n < INT64)
end

--- The exact digits of n, for which inexact(n) holds.
local function digits(n)
  if mtype and mtype(n) == "integer" then
    return format("%d", n)
  end
  return format("%.0f", n)
end

---------------------------------------------------------------------------
-- Encoding
---------------------------------------------------------------------------

local HELP, DEEP = 1, 2

--- Whether table t (at depth, the outermost being 1) holds anything cjson would
--- not write as wanted: HELP, DEEP when nested past MAX_DEPTH (or cyclic), or nil.
--- It looks at every table (the copy relies on there being no cycle), and
--- allocates nothing.
local function scan(t, depth)
  if depth > MAX_DEPTH then
    return DEEP
  end
  if next(t) == nil then
    return getmetatable(t) == array_mt and HELP or nil
  end
  -- cjson writes a non-empty table as an array when every key is a positive
  -- integer, else as an object, whose number keys it writes like values.
  local found, object, bigkey = nil, false, false
  for k, v in next, t do
    if type(k) == "number" then
      if k < 1 or k ~= floor(k) then
        object = true
      end
      if not (k < LIMIT and k > -LIMIT) and inexact(k) then
        bigkey = true
      end
    else
      object = true
    end
    local tv = type(v)
    if tv == "number" then
      if not (v < LIMIT and v > -LIMIT) and inexact(v) then
        found = HELP
      end
    elseif tv == "table" then
      local r = scan(v, depth + 1)
      if r == DEEP then
        return DEEP
      elseif r then
        found = HELP
      end
    end
  end
  if object and bigkey then
    return HELP
  end
  return found
end

--- A placeholder for text in the state's table of replacements.
local function put(st, text)
  local n = st.n + 1
  st.n = n
  local key = tostring(n)
  st.subs[key] = text
  return st.prefix .. key
end

local BASE = "__oojson"

--- Notes in st a string that holds BASE (st.suspects), and whether it holds
--- the placeholders' prefix (st.collided).
local function check(st, s)
  if find(s, BASE, 1, true) then
    local suspects = st.suspects or {}
    st.suspects = suspects
    suspects[#suspects + 1] = s
    if find(s, st.prefix, 1, true) then
      st.collided = true
    end
  end
end

--- A copy of t for cjson, with placeholders; notes in st the strings that
--- might collide (see check).
local function copy(t, st)
  if next(t) == nil then
    return getmetatable(t) == array_mt and put(st, "[]") or t
  end
  local out, object, bigkeys = {}, false, nil
  for k, v in next, t do
    local tk = type(k)
    if tk == "number" then
      if k < 1 or k ~= floor(k) then
        object = true
      end
      if not (k < LIMIT and k > -LIMIT) and inexact(k) then
        bigkeys = bigkeys or {}
        bigkeys[k] = digits(k)
      end
    else
      object = true
      if tk == "string" then
        check(st, k)
      end
    end
    local tv = type(v)
    if tv == "number" then
      if not (v < LIMIT and v > -LIMIT) and inexact(v) then
        v = put(st, digits(v))
      end
    elseif tv == "table" then
      v = copy(v, st)
    elseif tv == "string" then
      check(st, v)
    end
    out[k] = v
  end
  -- In an object, a number key is written as a string: its exact digits.
  if object and bigkeys then
    for k, d in next, bigkeys do
      out[d], out[k] = out[k], nil
    end
  end
  return out
end

local nonce = 0

--- Encodes value with placeholders; returns the text, or nil and cjson's message.
local function encode_helped(value)
  nonce = nonce < 2 ^ 31 and nonce + 1 or 1
  local st = { n = 0, subs = {}, prefix = BASE .. nonce .. "_" }
  local out = copy(value, st)
  if st.collided then
    -- A string holds the prefix: a nonce of more digits than follow BASE
    -- anywhere in the strings cannot occur in them. One more copy, no loop.
    local longest = 0
    for _, s in ipairs(st.suspects) do
      for run in gmatch(s, BASE .. "(%d*)") do
        if #run > longest then
          longest = #run
        end
      end
    end
    st = { n = 0, subs = {}, prefix = BASE .. rep("0", longest + 1) .. "_" }
    out = copy(value, st)
  end
  local text, err = encode(out)
  if not text then
    return nil, err
  end
  -- The prefix holds no pattern magic: letters, digits and underscores.
  return (gsub(text, '"' .. st.prefix .. '(%d+)"', st.subs))
end

--- Encodes a Lua value; returns the text, or nil and cjson's message.
function M.encode(value)
  local text, err
  if PREFILTER then
    text, err = encode(value)
    if not text then
      return nil, err
    elseif not find(text, "e+", 1, true) and not find(text, "{}", 1, true) then
      return text
    end
  end
  local tv = type(value)
  if tv == "number" then
    if inexact(value) then
      return digits(value)
    end
  elseif tv == "table" and scan(value, 1) == HELP then
    return encode_helped(value)
  end
  -- Nothing to help with, or nested too deeply (cjson says so itself).
  if text then
    return text
  end
  return encode(value)
end

return M
