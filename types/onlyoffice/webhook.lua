---@meta onlyoffice.webhook
-- LuaCATS definitions of onlyoffice.webhook (see types/onlyoffice.lua).

--- DocSpace webhook signatures: `x-docspace-signature-256: sha256=<HEX>`,
--- HMAC-SHA256 of the exact body bytes keyed with the webhook's secret.
---@class onlyoffice.webhook
local webhook = {}

--- Checks a delivery's signature, in constant time. A secret or body that is
--- not a string, an empty secret, or a header that is neither a string nor nil raises.
---@param secret string the webhook's secret key
---@param raw_body string the request body, exactly as received
---@param signature_header string|string[]|nil the `x-docspace-signature-256` header (a list when repeated)
---@return boolean ok true when the signature matches
---@return string? reason why not: "no signature header", "more than one signature header", "signature is not sha256=<64 hex digits>" or "signature does not match"
function webhook.verify(secret, raw_body, signature_header) end

return webhook
