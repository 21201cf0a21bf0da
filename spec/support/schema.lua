-- A JSON decoder that keeps what cjson loses (an empty array is not an empty
-- object, null is not absent) and a validator for the subset of JSON Schema
-- that spec/schemas/docspace.json uses: type, properties, required, items,
-- nullable, enum, allOf, $ref within the file, format date-time.
local M = {}

local OBJECT, ARRAY = { kind = "object" }, { kind = "array" }
M.NULL = setmetatable({}, { __tostring = function() return "null" end })

local decode_value

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local ESCAPES = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ["/"] = "/", ["\\"] = "\\", ['"'] = '"' }

local function utf8_char(code)
  if code < 0x80 then
    return string.char(code)
  elseif code < 0x800 then
    return string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64)
  end
  return string.char(0xE0 + math.floor(code / 4096), 0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
end

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then
      error("unterminated string at " .. i)
    elseif c == '"' then
      return table.concat(out), j + 1
    elseif c == "\\" then
      local e = s:sub(j + 1, j + 1)
      if e == "u" then
        out[#out + 1] = utf8_char(tonumber(s:sub(j + 2, j + 5), 16))
        j = j + 6
      else
        out[#out + 1] = assert(ESCAPES[e], "bad escape at " .. j)
        j = j + 2
      end
    else
      out[#out + 1] = c
      j = j + 1
    end
  end
end

local function decode_list(s, i, close, item)
  local t, n = {}, 0
  i = skip(s, i + 1)
  if s:sub(i, i) == close then
    return t, i + 1
  end
  while true do
    n = n + 1
    i = item(t, n, i)
    i = skip(s, i)
    local c = s:sub(i, i)
    if c == close then
      return t, i + 1
    end
    assert(c == ",", "expected , or " .. close .. " at " .. i)
    i = skip(s, i + 1)
  end
end

function decode_value(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local t, j = decode_list(s, i, "}", function(t, _, k)
      local key
      key, k = decode_string(s, k)
      k = skip(s, k)
      assert(s:sub(k, k) == ":", "expected : at " .. k)
      t[key], k = decode_value(s, k + 1)
      return k
    end)
    return setmetatable(t, OBJECT), j
  elseif c == "[" then
    local t, j = decode_list(s, i, "]", function(t, n, k)
      t[n], k = decode_value(s, k)
      return k
    end)
    return setmetatable(t, ARRAY), j
  elseif c == '"' then
    return decode_string(s, i)
  end
  for word, value in pairs({ ["true"] = true, ["false"] = false, null = M.NULL }) do
    if s:sub(i, i + #word - 1) == word then
      return value, i + #word
    end
  end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  assert(num and num ~= "", "unexpected " .. c .. " at " .. i)
  return tonumber(num), i + #num
end

--- Decodes JSON text; objects and arrays are told apart by M.kind(v).
function M.decode(s)
  local v, i = decode_value(s, 1)
  assert(skip(s, i) > #s, "trailing text at " .. i)
  return v
end

--- "object", "array", "null", "string", "number", "integer" or "boolean".
function M.kind(v)
  if v == M.NULL then
    return "null"
  elseif type(v) == "table" then
    return getmetatable(v).kind
  elseif type(v) == "number" then
    return v == math.floor(v) and "integer" or "number"
  end
  return type(v)
end

local function resolve(doc, ref)
  local name = ref:match("^#/components/schemas/(.+)$")
  return assert(name and doc.components.schemas[name], "unknown $ref " .. ref)
end

local check

local function check_object(doc, schema, v, path, errors)
  for _, name in ipairs(schema.required or {}) do
    if v[name] == nil then
      errors[#errors + 1] = path .. "." .. name .. ": required, missing"
    end
  end
  for name, sub in pairs(schema.properties or {}) do
    if v[name] ~= nil then
      check(doc, sub, v[name], path .. "." .. name, errors)
    end
  end
end

local function type_ok(want, got)
  return want == got or (want == "number" and got == "integer")
end

function check(doc, schema, v, path, errors)
  if schema["$ref"] then
    return check(doc, resolve(doc, schema["$ref"]), v, path, errors)
  end
  for _, part in ipairs(schema.allOf or {}) do
    check(doc, part, v, path, errors)
  end
  local got = M.kind(v)
  if got == "null" then
    if not schema.nullable and schema.type then
      errors[#errors + 1] = path .. ": null, not nullable"
    end
    return
  end
  if schema.type and not type_ok(schema.type, got) then
    errors[#errors + 1] = path .. ": " .. got .. ", expected " .. schema.type
    return
  end
  if schema.enum then
    local found = false
    for _, e in ipairs(schema.enum) do
      found = found or e == v
    end
    if not found then
      errors[#errors + 1] = path .. ": " .. tostring(v) .. " not in the enum"
    end
  end
  if schema.format == "date-time" and (got ~= "string" or not v:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d")) then
    errors[#errors + 1] = path .. ": not a date-time: " .. tostring(v)
  end
  if got == "object" then
    check_object(doc, schema, v, path, errors)
  elseif got == "array" and schema.items then
    for i, item in ipairs(v) do
      check(doc, schema.items, item, path .. "[" .. i .. "]", errors)
    end
  end
end

--- Validates decoded JSON against doc's schema `name`; returns the list of problems (empty: valid).
function M.validate(doc, name, value)
  local errors = {}
  check(doc, resolve(doc, "#/components/schemas/" .. name), value, "$", errors)
  return errors
end

return M
