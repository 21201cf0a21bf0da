-- The properties fuzz/answers.c checks. check(input) returns true when they hold;
-- the first byte picks what the rest of the input is fed to.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
local core = require "onlyoffice.core"
local priv = core.internals()
local args = require "onlyoffice.args"
local response = require "onlyoffice.response"

-- Secrets with bytes that URL and JSON encodings change.
local TOKEN, PASSWORD = "SeCr/Et+To Ken", "pA$s/wO rD"

local s = priv.new("http://127.0.0.1:9", {})
assert(priv.set_token(s, TOKEN))
priv.credentials(s, "user@example.com", PASSWORD)
local function clean(text)
  return priv.redact(s, text)
end

-- Every form a secret may take in a server's text.
local function forms(secret)
  local function url(hex)
    return (secret:gsub("[^A-Za-z0-9%-._~]", function(c)
      return "%" .. string.format(hex, c:byte())
    end))
  end
  local dotnet = secret:gsub("\\", "\\\\"):gsub("[\"+<>&'`]", function(c)
    return string.format("\\u%04X", c:byte())
  end)
  return { secret, secret:gsub("/", "\\/"), url("%02X"), url("%02x"), (url("%02X"):gsub("%%20", "+")), dotnet }
end
local FORBIDDEN = forms(TOKEN)
for _, f in ipairs(forms(PASSWORD)) do
  FORBIDDEN[#FORBIDDEN + 1] = f
end

local function leaks(v, depth)
  if type(v) == "string" then
    for _, f in ipairs(FORBIDDEN) do
      if v:find(f, 1, true) then
        return true
      end
    end
  elseif type(v) == "table" and (depth or 0) < 200 then
    for k, item in pairs(v) do
      if leaks(k, (depth or 0) + 1) or leaks(item, (depth or 0) + 1) then
        return true
      end
    end
  end
  return false
end

local CTYPES = { "application/json", "application/json; charset=utf-8", "text/plain", "text/html", nil }

-- Every way an answer is read: nothing but results, and no secret in any part
-- of a failure (message and the whole detail).
local function answer(rest, b)
  local r = { status = 200 + b % 7, body = rest, ctype = CTYPES[b % 5 + 1], headers = {} }
  local data, info, detail = response.success(r, clean)
  if data == nil and (type(info) ~= "string" or type(detail) ~= "table" or leaks(info) or leaks(detail)) then
    return false
  end
  r.status = 400 + b % 100
  local message, fdetail = response.failure(r, clean)
  return type(message) == "string" and not leaks(message) and not leaks(fdetail)
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

-- Redaction leaves no form of the token, and drops text that holds the password.
local function redaction(rest, b)
  local pick = FORBIDDEN[b % #FORBIDDEN + 1]
  local text = clean(rest .. pick .. rest .. FORBIDDEN[(b + 3) % #FORBIDDEN + 1])
  return text == nil or not leaks(text)
end

-- A token from the portal is refused when it could break a header.
local function token(rest)
  local t = priv.new("http://127.0.0.1:9", {})
  local ok = priv.set_token(t, rest)
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
