-- Logging in: the first exchange, the two-factor step, and re-login after a 401.
local core = require "onlyoffice.core"
local json = require "onlyoffice.json"
local response = require "onlyoffice.response"
local settings = require "onlyoffice.settings"

local M = {}

local failure = response.fail

-- The token block of a login answer; Workspace's docs spell the fields in PascalCase.
local function token_block(body)
  local doc = json.decode(body)
  if type(doc) ~= "table" then
    return nil
  end
  return type(doc.response) == "table" and doc.response or doc
end

local function second_factor(s, r)
  local detail = {
    status = 200, tfa = r.tfa == true or nil, sms = r.sms == true or nil,
    confirm_url = type(r.confirmUrl) == "string" and r.confirmUrl or nil,
    phone = type(r.phoneNoise) == "string" and r.phoneNoise or nil,
  }
  local how = detail.sms and ("an SMS code" .. (detail.phone and (" sent to " .. detail.phone) or ""))
    or "an authenticator app code"
  return failure(s, "two-factor authentication required: pass options.code with " .. how, detail)
end

-- One login exchange: true once the session holds a token; "2fa", r for a challenge.
local function login_exchange(s, code)
  local status, body, ctype, retry_after = settings.traced(s, "POST", "/api/2.0/authentication"
    .. (code and "/<code>" or "") .. " (login)", core.login, s, code)
  if not status then
    return response.network(s, body, ctype, "POST", "/api/2.0/authentication")
  end
  if status ~= 200 and status ~= 201 then
    local message, detail = response.failure(status, body, ctype, retry_after)
    return failure(s, "login failed: " .. message, detail)
  end
  local r = token_block(body)
  if not r then
    return failure(s, "login failed: the answer is not JSON", { status = status, body = body:sub(1, 512) })
  end
  local token, expires = r.token or r.Token, r.expires or r.Expires
  if type(token) == "string" and token ~= "" then
    local ok, err = core.set_token(s, token, type(expires) == "string" and expires or nil)
    if not ok then
      return failure(s, "login failed: " .. err, { status = status })
    end
    return true
  end
  if r.tfa == true or r.sms == true then
    return "2fa", r
  end
  return failure(s, "login failed: the answer has no token", { status = status })
end

--- Logs the session in; true, or nil, message, detail.
function M.authenticate(s, code)
  local ok, r, detail = login_exchange(s, nil)
  if ok ~= "2fa" then
    return ok, r, detail
  end
  if not code then
    return second_factor(s, r)
  end
  ok, r, detail = login_exchange(s, code)
  if ok == "2fa" then
    return second_factor(s, r)
  end
  return ok, r, detail
end

return M
