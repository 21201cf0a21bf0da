-- A private lua-cjson instance, so the user's cjson settings are never touched,
-- and integers that stay integers on Lua 5.3+ whichever cjson build is installed.
local cjson = require "cjson.safe"
local core = require "onlyoffice.core"

local M = {}

local codec = cjson.new()
-- Debian's cjson allows at most 14 digits; OpenResty's allows 16.
if not pcall(codec.encode_number_precision, 16) then
  codec.encode_number_precision(14)
end
codec.decode_invalid_numbers(false)
codec.encode_invalid_numbers(false)

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

--- Encodes a Lua value; returns the text, or nil and cjson's message.
function M.encode(value)
  return encode(value)
end

return M
