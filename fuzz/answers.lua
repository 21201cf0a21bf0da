-- The properties fuzz/answers.c checks. check(input) returns true when they hold;
-- the first byte picks what the rest of the input is fed to.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
local core = require "onlyoffice.core"
local args = require "onlyoffice.args"
local response = require "onlyoffice.response"

local s = core.new("http://127.0.0.1:9", {})
assert(core.set_token(s, "SeCrEtToKeN"))
core.credentials(s, "user@example.com", "pAsSwOrD")

local CTYPES = { "application/json", "application/json; charset=utf-8", "text/plain", "text/html", nil }

-- Every way an answer is read: nothing but results, and no secret in them.
local function answer(rest, b)
  local ctype = CTYPES[b % 5 + 1]
  local data, info, detail = response.success(200 + b % 7, rest, ctype)
  if data == nil and (type(info) ~= "string" or type(detail) ~= "table") then
    return false
  end
  local message, fdetail = response.failure(400 + b % 100, rest, ctype, nil)
  local _, red = response.fail(s, message, fdetail)
  return type(message) == "string" and not red:find("SeCrEtToKeN", 1, true)
    and not red:find("pAsSwOrD", 1, true)
end

-- The C UTF-8 check agrees with Lua 5.4's strict utf8.len.
local function utf8_agrees(rest)
  return core.utf8_valid(rest) == (utf8.len(rest) ~= nil)
end

-- Whatever a user passes, a target has no CR, LF, NUL or space, and a header
-- line none of CR, LF, NUL; bad input raises, nothing else.
local function user_input(rest, b)
  local ok, result = pcall(b % 2 == 0 and args.target or args.query,
    b % 2 == 0 and rest or { [rest] = rest }, nil, 1)
  if ok and result:find("[%z\r\n ]") then
    return false
  end
  local hok, lines = pcall(args.header_lines, { ["X-Fuzz"] = rest }, 1)
  return not (hok and lines[1]:find("[%z\r\n]"))
end

-- Redaction leaves no copy of the token or the password.
local function redaction(rest)
  local text = core.redact(s, rest .. "SeCrEtToKeN" .. rest .. "pAsSwOrD")
  return not text:find("SeCrEtToKeN", 1, true) and not text:find("pAsSwOrD", 1, true)
end

-- A token from the portal is refused when it could break a header.
local function token(rest)
  local t = core.new("http://127.0.0.1:9", {})
  local ok = core.set_token(t, rest)
  t:close()
  return not (ok and (rest == "" or rest:find("[%z\r\n;]")))
end

local CHECKS = { answer, utf8_agrees, user_input, redaction, token }

return function(input)
  if #input == 0 then
    return true
  end
  local b = input:byte(1)
  return CHECKS[b % #CHECKS + 1](input:sub(2), b)
end
