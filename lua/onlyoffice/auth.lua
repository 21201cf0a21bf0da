-- Logging in: the first exchange, the two-factor step, and re-login after a
-- 401. The login body is built in C from the kept credentials: the request
-- table only says `login = true` (or the two-factor code).
local response = require "onlyoffice.response"

local M = {}

local TARGET = "/api/2.0/authentication"

--- new(priv, P): installs P.authenticate(s, code) -> true | nil, message, detail.
function M.new(priv, P)
  local set_token = priv.set_token

  local function fail(message, detail)
    detail = detail or {}
    detail.kind = "login"
    return nil, "login failed: " .. message, detail
  end

  local function second_factor(r)
    local detail = {
      kind = "login", status = 200, method = "POST", path = TARGET,
      tfa = r.tfa == true or nil, sms = r.sms == true or nil,
      confirm_url = type(r.confirmUrl) == "string" and r.confirmUrl or nil,
      phone = type(r.phoneNoise) == "string" and r.phoneNoise or nil,
    }
    local how = detail.sms and ("an SMS code" .. (detail.phone and (" sent to " .. detail.phone) or ""))
      or "an authenticator app code"
    return nil, "two-factor authentication required: pass options.code with " .. how, detail
  end

  -- The token block of a login answer; Workspace's docs spell the fields in PascalCase.
  local function token_block(body)
    local doc = response.decode(body)
    if type(doc) ~= "table" then
      return nil
    end
    return type(doc.response) == "table" and doc.response or doc
  end

  -- One login exchange: true once the session holds a token; "2fa", r for a challenge.
  local function exchange(s, code)
    local req = { method = "POST", target = TARGET .. (code and ("/" .. code) or ""), login = code or true,
      relogin = false, shown = TARGET .. (code and "/<code>" or "") }
    local final = (P.one(s, req))
    local _, message, detail = P.failure(s, req, final)
    if message then
      detail.path = TARGET
      if detail.kind == "http" or detail.kind == "redirect" then
        detail.kind = "login"
        message = message:gsub("^POST [^:]*: ", "")
        -- DocSpace's brute-force block (403), Workspace's (500): even the right
        -- password is refused until it ends.
        if (detail.status == 403 or detail.status == 500) and message:find("[Tt]oo many [%w ]*attempts") then
          detail.throttled = true
          message = message .. " (the portal's brute-force block: even the right password is refused until it ends)"
        end
        return fail(message, detail)
      end
      return nil, message, detail
    end
    if final.status ~= 200 and final.status ~= 201 then
      return fail("HTTP " .. final.status, { status = final.status })
    end
    local r = token_block(final.body)
    if not r then
      return fail("the answer is not JSON", { status = final.status })
    end
    local token, expires = r.token or r.Token, r.expires or r.Expires
    if type(token) == "string" and token ~= "" then
      local ok, err = set_token(s, token, type(expires) == "string" and expires or nil)
      if not ok then
        return fail(err, { status = final.status })
      end
      local on_token = priv.state(s).on_token
      if on_token then
        on_token(s)
      end
      return true
    end
    if r.tfa == true or r.sms == true then
      return "2fa", r
    end
    return fail("the answer has no token", { status = final.status })
  end

  function P.authenticate(s, code)
    local ok, r, detail = exchange(s, nil)
    if ok ~= "2fa" then
      return ok, r, detail
    end
    if not code then
      return second_factor(r)
    end
    ok, r, detail = exchange(s, code)
    if ok == "2fa" then
      return second_factor(r)
    end
    return ok, r, detail
  end
end

return M
