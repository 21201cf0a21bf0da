-- Turns a transfer's response into `data, info` or `message, detail`. Pure
-- functions of their arguments: `clean` redacts text that came from the
-- portal (nil drops it), and is the only way such text reaches a result.
local json = require "onlyoffice.json"
local utf8_valid = require("onlyoffice.core").utf8_valid

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

--- Every string in v cleaned, keys included; nil when clean dropped any of
--- them (a structure that held the password is not shown in part).
function M.clean_all(v, clean, depth)
  local t = type(v)
  if t == "string" then
    return clean(v)
  elseif t ~= "table" or (depth or 0) > 100 then
    return t ~= "table" and v or nil
  end
  local out = {}
  for k, item in pairs(v) do
    local ck, ci = k, item
    if type(k) == "string" then
      ck = clean(k)
    end
    if type(item) == "string" or type(item) == "table" then
      ci = M.clean_all(item, clean, (depth or 0) + 1)
    end
    if ck == nil or ci == nil then
      return nil
    end
    out[ck] = ci
  end
  return out
end

--- A JSON body decoded after its UTF-8 check: value, or nil, message.
function M.decode(body)
  -- JSON is UTF-8 (RFC 8259); cjson copies string bytes without checking them.
  local valid, at = utf8_valid(body)
  if not valid then
    return nil, "not UTF-8 at byte " .. at
  end
  local doc, err = json.decode(body)
  if doc == nil then
    return nil, tostring(err)
  end
  return doc
end

--- A 2xx answer: data, info; or nil, message, detail when a JSON body is broken.
function M.success(r, clean)
  local status, body = r.status, r.body
  local info = { status = status, headers = r.headers }
  if body == "" or not is_json(r.ctype, body) then
    return body, info
  end
  local doc, err = M.decode(body)
  if doc == nil then
    local snippet = clean(body)
    return nil, "invalid JSON in the answer: " .. err,
      { kind = "json", status = status, headers = snippet and M.clean_all(r.headers, clean) or nil,
        body = snippet and snippet:sub(1, SNIPPET) }
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
  if type(e) == "string" then -- OAuth2 (RFC 6749): {"error": "invalid_grant", "error_description": ...}
    local why = doc.error_description
    return e .. (type(why) == "string" and (": " .. why) or "")
  end
  if type(doc.message) == "string" then
    return doc.message
  end
  if type(doc.title) == "string" then -- ASP.NET problem details
    return doc.title
  end
end

--- A non-2xx answer: "HTTP <status>[: <portal's words>]", detail.
function M.failure(r, clean)
  local status, body, ctype = r.status, r.body, r.ctype
  -- A session with a short secret gets no server text at all (see redact.c).
  local withheld = clean("") == nil
  local detail = { kind = "http", status = status, retry_after = r.retry_after,
    headers = not withheld and M.clean_all(r.headers, clean) or nil }
  local text
  if body ~= "" and is_json(ctype, body) then
    local doc = M.decode(body)
    local e
    text, e = portal_message(doc)
    detail.error = e and not withheld and M.clean_all(e, clean) or nil
  end
  if not text and body ~= "" then
    local snippet = clean(body) -- redacted whole, then cut: no secret straddles the cut
    detail.body = snippet and snippet:sub(1, SNIPPET)
    if ctype == nil or ctype:lower():find("^%s*text/plain") then
      text = body:match("^%s*([^\r\n]+)")
      if text and #text > 200 then
        text = nil
      end
    end
  end
  local message = "HTTP " .. status
  text = text and clean(text)
  if text then
    message = message .. ": " .. text
  end
  return message, detail
end

--- A transfer that got no answer: message, detail.
function M.network(r)
  local kind = r.kind
  local detail = { kind = kind, curl_code = r.code, errno = r.errno }
  if kind == "timeout" then
    detail.timeout = true
  elseif kind == "tls" then
    detail.tls = true
  elseif kind == "closed" then
    detail.closed = true
    return r.message, detail
  end
  local prefix = kind == "tls" and "TLS error: " or (kind == "network" or kind == "timeout") and "network error: "
    or ""
  return prefix .. r.message, detail
end

return M
