-- Rewrites the LuaCATS definitions in types/ as LDoc input, so that the API
-- reference in docs/ comes from the one place that documents every public
-- signature. LDoc 1.4 reads `---@param name type` as a description, and
-- refuses `---@class` and `---@meta`: each becomes LDoc's own tag here.
--   lua tools/ldoc_types.lua OUT_DIR types/onlyoffice.lua types/onlyoffice/ngx.lua ...
local out_dir = assert(arg[1], "usage: ldoc_types.lua OUT_DIR FILE...")

-- The type at the start of text, and the rest: brackets nest, and a `fun(...)`
-- return type after ": " belongs to it. Spaces are dropped (LDoc reads a type
-- as one word).
local function split_type(text)
  local depth, i, n = 0, 1, #text
  while i <= n do
    local c = text:sub(i, i)
    if c:match("[%(<{%[]") then
      depth = depth + 1
    elseif c:match("[%)>}%]]") then
      depth = depth - 1
    elseif c:match("%s") and depth == 0 then
      if text:sub(i - 1, i - 1) ~= ":" and text:sub(i - 1, i - 1) ~= "," then
        break
      end
    end
    i = i + 1
  end
  return (text:sub(1, i - 1):gsub("%s+", "")), (text:sub(i):gsub("^%s+", ""))
end

-- LDoc's form of a type: it reads any "?" as "optional", so a trailing one
-- becomes its leading "?" and inner ones "|nil".
local function ldoc_type(t)
  local opt = t:match("%?$")
  t = t:gsub("%?$", ""):gsub("%?", "|nil")
  return (opt and "?" or "") .. t
end

local function param(line)
  local name, rest = line:match("^(%S+)%s+(.*)$")
  local t, desc = split_type(rest)
  local opt = name:match("%?$") or t:match("%?$")
  name, t = name:gsub("%?$", ""), t:gsub("%?$", "")
  return ("-- @tparam%s %s %s %s"):format(opt and "[opt]" or "", ldoc_type(t), name, desc)
end

local function field(line, tag)
  local name, rest = line:match("^(%S+)%s+(.*)$")
  local t, desc = split_type(rest)
  local opt = name:match("%?$")
  name = name:gsub("%?$", "")
  return ("-- @%s %s %s %s%s"):format(tag, ldoc_type(t), name, opt and "(optional) " or "", desc)
end

local function returns(line)
  local t, desc = split_type(line)
  local name, more = desc:match("^([%w_%.]+)%s*(.*)$")
  if name and name ~= "..." then
    desc = name .. (more ~= "" and (": " .. more) or "")
  end
  return ("-- @treturn %s %s"):format(ldoc_type(t), desc)
end

-- One doc block (its lines without the leading ---) and the code after it.
local function block(lines, code, ctx)
  local desc, tags, class, alias, values, parent, overloads = {}, {}, nil, nil, {}, nil, {}
  for _, l in ipairs(lines) do
    local tag, rest = l:match("^@(%w+)%s*(.*)$")
    if not tag then
      if l:match("^|") then
        local v, d = l:match("^|%s*(%S+)%s*#?%s*(.*)$")
        values[#values + 1] = ("-- @field %s %s"):format(v, d)
      else
        desc[#desc + 1] = "-- " .. l:gsub("^ ", "")
      end
    elseif tag == "class" then
      class, parent = rest:match("^([%w_%.]+)%s*:?%s*([%w_%.]*)")
    elseif tag == "alias" then
      local name, t = rest:match("^(%S+)%s*(.*)$")
      alias = name
      if t ~= "" then
        desc[#desc + 1] = "--"
        desc[#desc + 1] = "-- Type: `" .. t .. "`"
      end
    elseif tag == "param" then
      tags[#tags + 1] = param(rest)
    elseif tag == "return" then
      tags[#tags + 1] = returns(rest)
    elseif tag == "field" then
      tags[#tags + 1] = field(rest, "tfield")
    elseif tag == "overload" then
      overloads[#overloads + 1] = "-- Also callable as `" .. rest .. "`."
    end -- @meta and @generic have no LDoc form
  end
  if desc[1] then
    desc[1] = "---" .. desc[1]:sub(3)
  else
    desc[1] = "---"
  end
  local out = {}
  local function add(list)
    for _, l in ipairs(list) do
      out[#out + 1] = l
    end
  end
  add(desc)
  if #overloads > 0 then
    out[#out + 1] = "--"
    add(overloads)
  end
  local var = code and code:match("^local ([%w_]+) = {}")
  if class and var and not ctx.module then -- the file's module
    ctx.module, ctx.vars[var] = class, class
    out[#out + 1] = "-- @module " .. class
    out[#out + 1] = "\n--- Fields of the module table."
    out[#out + 1] = "-- @table " .. class
    add(tags)
    return table.concat(out, "\n") .. "\n"
  elseif class and var then -- a class with methods
    ctx.vars[var] = class
    out[#out + 1] = "-- @type " .. class
    add(tags)
    return table.concat(out, "\n") .. "\n"
  elseif class or alias then -- fields only
    if parent and parent:find("%.") then -- a class of ours, not a Lua type
      out[#out + 1] = "--"
      out[#out + 1] = "-- Also every field of `" .. parent .. "`."
    end
    out[#out + 1] = "-- @table " .. (class or alias)
    add(tags)
    add(values)
    return table.concat(out, "\n") .. "\n"
  end
  add(tags)
  -- Functions: named after the module or class they belong to.
  local owner, sep, name, params = code:match("^function ([%w_]+)([%.:])([%w_]+)(%b())")
  out[#out + 1] = ("function %s%s%s%s end"):format(ctx.vars[owner] or owner, sep, name, params)
  return table.concat(out, "\n") .. "\n"
end

local function convert(path)
  local lines = {}
  for l in io.lines(path) do
    lines[#lines + 1] = l
  end
  local ctx, parts, i = { vars = {} }, {}, 1
  while i <= #lines do
    local l = lines[i]
    if l:match("^%-%-%-[^%-]") or l == "---" then
      local doc = {}
      while lines[i] and (lines[i]:match("^%-%-%-[^%-]") or lines[i] == "---") do
        doc[#doc + 1] = lines[i]:sub(4)
        i = i + 1
      end
      local code = lines[i]
      if not (#doc == 1 and doc[1]:match("^@meta")) then
        parts[#parts + 1] = block(doc, code ~= "" and code or nil, ctx)
      end
    end
    i = i + 1
  end
  return ctx.module, table.concat(parts, "\n")
end

for k = 2, #arg do
  local module, text = convert(arg[k])
  local f = assert(io.open(out_dir .. "/" .. module .. ".lua", "w"))
  f:write(text)
  f:close()
end
