-- JSON text for the command-line tool: answers printed with sorted keys
-- (compact, or indented for people), and the pieces of a request body built
-- from `key=value` arguments.
--
-- Not lua-cjson: its key order follows the hash table, and the tool's output
-- should read the same on every run and runtime. The module decodes answers
-- into plain tables, so an empty JSON array and an empty object both arrive as
-- an empty table; they are printed as `[]`, the more common of the two in
-- portal answers.
local null = require("onlyoffice.json").null

local M = {}

local format, byte, gsub, rep, concat = string.format, string.byte, string.gsub, string.rep, table.concat
local floor = math.floor
local mtype = math.type

-- Control characters, DEL and the C1 controls (UTF-8 C2 80..C2 9F) are
-- escaped: a portal's text must not drive the user's terminal.
local SHORT = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t" }

local function escape_char(c)
  return SHORT[c] or format("\\u%04x", byte(c))
end

local function escape_c1(c)
  return format("\\u%04x", byte(c, 2))
end

--- A Lua string as a JSON string.
function M.string(s)
  s = gsub(s, '[%c"\\]', escape_char)
  s = gsub(s, "\194[\128-\159]", escape_c1)
  return '"' .. s .. '"'
end

-- Shortest text that reads back as the same number; integers in full.
local function number(n)
  if n ~= n or n == math.huge or n == -math.huge then
    return "null" -- JSON has no NaN or infinities
  elseif (mtype and mtype(n) == "integer") then
    return format("%d", n)
  elseif n == floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then
    return format("%.0f", n)
  end
  for digits = 14, 17 do
    local text = format("%." .. digits .. "g", n)
    if tonumber(text) == n then
      return text
    end
  end
  return format("%.17g", n)
end

-- Keys 1..n and nothing else: a JSON array.
local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then
      return false
    end
  end
  return true
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  return keys
end

local write

local function write_table(t, out, indent, depth)
  if next(t) == nil then
    out[#out + 1] = "[]"
    return
  end
  local array = is_array(t)
  local pad = indent and ("\n" .. rep(indent, depth + 1)) or ""
  local sep = indent and ": " or ":"
  out[#out + 1] = array and "[" or "{"
  local keys = array and nil or sorted_keys(t)
  for i = 1, array and #t or #keys do
    out[#out + 1] = (i > 1 and "," or "") .. pad
    if array then
      write(t[i], out, indent, depth + 1)
    else
      out[#out + 1] = M.string(tostring(keys[i])) .. sep
      write(t[keys[i]], out, indent, depth + 1)
    end
  end
  out[#out + 1] = (indent and ("\n" .. rep(indent, depth)) or "") .. (array and "]" or "}")
end

function write(v, out, indent, depth)
  local tv = type(v)
  if tv == "table" then
    write_table(v, out, indent, depth)
  elseif tv == "string" then
    out[#out + 1] = M.string(v)
  elseif tv == "number" then
    out[#out + 1] = number(v)
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif v == nil or v == null then
    out[#out + 1] = "null"
  else
    out[#out + 1] = M.string(tostring(v))
  end
end

--- A decoded answer as JSON text: compact, or indented by two spaces when
--- pretty. Object keys are sorted.
function M.encode(value, pretty)
  local out = {}
  write(value, out, pretty and "  " or nil, 0)
  return concat(out)
end

--- Whether text is, all of it, a JSON number, true, false or null.
function M.scalar(text)
  if text == "true" or text == "false" or text == "null" then
    return true
  end
  local int, rest = text:match("^%-?(%d+)(.*)$")
  if not int or (#int > 1 and int:sub(1, 1) == "0") then
    return false
  end
  rest = rest:gsub("^%.%d+", "", 1)
  rest = rest:gsub("^[eE][+-]?%d+", "", 1)
  return rest == ""
end

return M
