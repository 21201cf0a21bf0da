-- onlyoffice.webhook: checks that a DocSpace webhook delivery was signed with
-- the webhook's secret. DocSpace sends `x-docspace-signature-256: sha256=<HEX>`,
-- HEX being HMAC-SHA256 of the exact body bytes keyed with the secret's UTF-8
-- bytes, in upper case. The digest and the constant-time comparison are C
-- (src/webhook.c, OpenSSL); here the arguments are checked.
local core = require "onlyoffice.core"

local M = {}

local NAME = "onlyoffice.webhook.verify: "

--- verify(secret, raw_body, signature_header) -> true, or false, reason.
--- The header comes from the network: nil (none sent), a list (nginx's value for
--- a repeated header) or a malformed value is false, never an error; the secret
--- and the body are the caller's, and a wrong type raises at the caller's line.
function M.verify(secret, body, header)
  if type(secret) ~= "string" then
    error(NAME .. "secret must be a string, got " .. type(secret), 2)
  elseif secret == "" then
    error(NAME .. "secret is empty", 2)
  elseif type(body) ~= "string" then
    error(NAME .. "body must be a string (the raw request body), got " .. type(body), 2)
  end
  if header == nil then
    return false, "no signature header"
  elseif type(header) == "table" then
    return false, "more than one signature header"
  elseif type(header) ~= "string" then
    error(NAME .. "signature header must be a string or nil, got " .. type(header), 2)
  end
  -- DocSpace writes the prefix in lower case; a bare digest is taken too.
  local hex = header:match("^[Ss][Hh][Aa]256=(.*)$") or header
  return core.webhook_verify(secret, body, hex)
end

return M
