-- Turns what the portal answered into `data, info` or `message, detail`.
local core = require "onlyoffice.core"
local json = require "onlyoffice.json"

local M = {}

local SNIPPET = 512 -- bytes of a non-JSON error body kept in detail.body

local function is_json(ctype, body)
  if ctype then
    local mime = ctype:lower():match("^%s*([^;%s]+)")
    return mime == "application/json" or mime == "text/json" or (mime or ""):find("%+json$") ~= nil
  end
  return body:find("^%s*[%[{]") ~= nil
end

-- Both portal families wrap results as {response=..., status=0, statusCode=N, ...}.
local function is_envelope(doc)
  return type(doc) == "table" and type(doc.statusCode) == "number" and type(doc.status) == "number"
end

local ENVELOPE_INFO = { "count", "total", "startIndex", "nextIndex" }

--- A 2xx answer: data, info; or nil, message, detail when a JSON body is broken.
function M.success(status, body, ctype)
  local info = { status = status }
  if body == "" or not is_json(ctype, body) then
    return body, info
  end
  -- JSON is UTF-8 (RFC 8259); cjson copies string bytes without checking them.
  local valid, at = core.utf8_valid(body)
  local doc, err
  if valid then
    doc, err = json.decode(body)
  else
    err = "not UTF-8 at byte " .. at
  end
  if doc == nil then
    return nil, "invalid JSON in the answer: " .. tostring(err),
      { status = status, body = body:sub(1, SNIPPET) }
  end
  if not is_envelope(doc) then
    return doc, info
  end
  for _, k in ipairs(ENVELOPE_INFO) do
    info[k] = doc[k]
  end
  local data = doc.response
  if data == nil then -- DocSpace leaves out a null response
    data = json.null
  end
  return data, info
end

local function portal_message(doc)
  if type(doc) ~= "table" then
    return nil
  end
  local e = doc.error
  if type(e) == "table" and type(e.message) == "string" then
    return e.message, e
  end
  if type(doc.message) == "string" then
    return doc.message
  end
  if type(doc.title) == "string" then -- ASP.NET problem details
    return doc.title
  end
end

--- A non-2xx answer: message, detail.
function M.failure(status, body, ctype, retry_after)
  local detail = { status = status, retry_after = tonumber(retry_after) }
  local text
  if body ~= "" and is_json(ctype, body) then
    local doc = json.decode(body)
    text, detail.error = portal_message(doc)
  end
  if not text and body ~= "" then
    detail.body = body:sub(1, SNIPPET)
    if ctype == nil or ctype:lower():find("^%s*text/plain") then
      text = body:match("^%s*([^\r\n]+)")
      if text and #text > 200 then
        text = nil
      end
    end
  end
  local message = "HTTP " .. status
  if text then
    message = message .. ": " .. text
  end
  return message, detail
end

--- Every message and detail leaving the module passes here: no token, no password.
function M.fail(s, message, detail)
  detail = detail or {}
  message = core.redact(s, message)
  for k, v in pairs(detail) do
    if type(v) == "string" then
      detail[k] = core.redact(s, v)
    end
  end
  if type(detail.error) == "table" and type(detail.error.message) == "string" then
    detail.error.message = core.redact(s, detail.error.message)
  end
  return nil, message, detail
end

-- libcurl's codes for a failed TLS handshake or certificate check.
local TLS_CODES = { [35] = true, [51] = true, [53] = true, [54] = true, [58] = true, [59] = true, [60] = true,
  [64] = true, [66] = true, [77] = true, [80] = true, [82] = true, [83] = true, [90] = true, [91] = true }

--- A transfer that got no answer: nil, message, detail.
function M.network(s, message, code, method, target)
  if message == "session is closed" then
    return M.fail(s, message, { closed = true })
  end
  local tls = TLS_CODES[code]
  return M.fail(s, (tls and "TLS error: " or "network error: ") .. tostring(message),
    { curl_code = code, timeout = code == 28 or nil, tls = tls, method = method, path = target })
end

--- A non-2xx answer to a request: nil, message, detail naming the request.
function M.http(s, method, target, status, body, ctype, retry_after)
  local message, detail = M.failure(status, body, ctype, retry_after)
  detail.method, detail.path = method, target
  return M.fail(s, method .. " " .. target .. ": " .. message, detail)
end

return M
