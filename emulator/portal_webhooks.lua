-- DocSpace webhooks (reference section 5): the settings/webhook API and signed
-- deliveries, fired by the specs through /__emu/webhook_fire.
--
-- Registration checks the URL with a HEAD that must answer 2xx. The real portal
-- first refuses URLs on its SSRF blacklist (127/8 among them); the emulator
-- does not, since the specs' receivers listen on 127.0.0.1. It does not check
-- the secret against a password policy either, and it stores `triggers` without
-- filtering on them: every enabled webhook gets every event. Only http:// URLs
-- are delivered to.
local hmac = require "hmac_sha256"

local M = {}

-- The real portal retries 5 times, waiting 2^attempt seconds from 1 s; the
-- emulator retries 3 times from 50 ms so that the specs stay fast.
local RETRIES, FIRST_WAIT = 3, 0.05
local TIMEOUT_MS = 2000
local CREATOR = "8f3c3d1e-0001-4c1a-9d55-000000000001" -- user@example.com

-- (Debian's lua-cjson has no array_mt: an empty list goes out as {}.)
-- Configurations and the delivery log live in the shared dict as JSON, so that
-- /__emu/reset clears them; a read and its write never yield in between.
local function load(lib, key)
  return lib.cjson.decode(lib.dict:get(key) or "{}") or {}
end

local function store(lib, key, value)
  lib.dict:set(key, lib.cjson.encode(value))
end

local function now_iso()
  return os.date("!%Y-%m-%dT%H:%M:%S", ngx.time()) .. ".0000000Z"
end

-- What the API shows of a configuration: never its secret.
local function dto(config)
  return { id = config.id, name = config.name, uri = config.uri, enabled = config.enabled, ssl = config.ssl,
    triggers = config.triggers, targetId = config.targetId }
end

---------------------------------------------------------------------------
-- HTTP/1.1 over a cosocket: status and up to 1 KB of the answer's body.
---------------------------------------------------------------------------

local MAX_ANSWER = 1024

-- The first chunks of a chunked body, up to MAX_ANSWER bytes.
local function read_chunks(sock)
  local parts, size = {}, 0
  while size < MAX_ANSWER do
    local line = sock:receive("*l")
    local n = line and tonumber(line:match("^%x+"), 16)
    if not n or n == 0 then
      break
    end
    local chunk = sock:receive(n)
    if not chunk then
      break
    end
    parts[#parts + 1], size = chunk, size + n
    sock:receive("*l") -- the CRLF after the chunk
  end
  return table.concat(parts):sub(1, MAX_ANSWER)
end

local function read_answer(sock, method)
  local line, err = sock:receive("*l")
  local status = line and tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then
    return nil, err or "bad status line"
  end
  local length, chunked = 0, false
  repeat
    line, err = sock:receive("*l")
    if not line then
      return nil, err
    end
    local lower = line:lower()
    length = tonumber(lower:match("^content%-length:%s*(%d+)")) or length
    chunked = chunked or lower:match("^transfer%-encoding:.*chunked") ~= nil
  until line == ""
  if method == "HEAD" then
    return status, ""
  elseif chunked then
    return status, read_chunks(sock)
  elseif length == 0 then
    return status, ""
  end
  local body, _, partial = sock:receive(math.min(length, MAX_ANSWER))
  return status, body or partial
end

local function http(method, url, headers, body)
  local host, port, path = url:match("^[Hh][Tt][Tt][Pp]://([^/:?#]+):?(%d*)([^#]*)$")
  if not host then
    return nil, "only http:// URLs are emulated"
  end
  port = tonumber(port) or 80
  path = path == "" and "/" or path
  local sock = ngx.socket.tcp()
  sock:settimeout(TIMEOUT_MS)
  local ok, err = sock:connect(host, port)
  if not ok then
    return nil, err
  end
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: " .. host .. ":" .. port, "Connection: close",
    "User-Agent: onlyoffice-emulator" }
  for name, value in pairs(headers or {}) do
    lines[#lines + 1] = name .. ": " .. value
  end
  if body then
    lines[#lines + 1] = "Content-Length: " .. #body
  end
  local status, answer
  ok, err = sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
  if ok then
    status, answer = read_answer(sock, method)
  end
  sock:close()
  if not ok then
    return nil, err
  end
  return status, answer
end

---------------------------------------------------------------------------
-- Deliveries: one log entry per event and webhook; its id is event.id.
---------------------------------------------------------------------------

local function update_entry(lib, id, change)
  local log = load(lib, "wh:log")
  local entry = log[tostring(id)]
  if not entry then -- /__emu/reset came in between
    return nil
  end
  change(entry)
  store(lib, "wh:log", log)
  return entry
end

-- The body of one attempt: retries carry retryCount and retryOn (and the last
-- failure), so each attempt is serialised, and signed, anew.
local function delivery_body(lib, entry, config, attempt, last_failure)
  local webhook = { id = config.id, name = config.name, url = config.uri, triggers = { "*" } }
  if attempt > 0 then
    webhook.retryCount, webhook.retryOn = attempt, now_iso()
    webhook.lastFailureOn, webhook.lastFailureContent = last_failure.on, last_failure.content
  end
  return lib.cjson.encode({ event = entry.event, payload = entry.payload, webhook = webhook })
end

local function attempt_once(lib, entry, config, attempt, last_failure)
  local body = delivery_body(lib, entry, config, attempt, last_failure)
  local signature = "sha256=" .. hmac.hmac(config.secretKey, body)
  local status, answer = http("POST", config.uri, {
    ["Content-Type"] = "application/json; charset=utf-8",
    ["Accept"] = "*/*",
    ["x-docspace-signature-256"] = signature,
  }, body)
  update_entry(lib, entry.id, function(e)
    e.attempts[#e.attempts + 1] = { retryCount = attempt, signature = signature, status = status,
      body = status and answer or nil, error = not status and answer or nil }
  end)
  return status, answer
end

local function finish(lib, id, outcome)
  update_entry(lib, id, function(e) e.outcome = outcome end)
end

-- Runs in a timer: the first attempt, then retries until a 2xx, a 410 (which
-- deletes the webhook, as the portal does) or the last retry.
local function deliver(premature, lib, id)
  if premature then
    return
  end
  local entry = load(lib, "wh:log")[tostring(id)]
  if not entry then
    return
  end
  local last_failure = {}
  for attempt = 0, RETRIES do
    if attempt > 0 then
      ngx.sleep(FIRST_WAIT * 2 ^ (attempt - 1))
    end
    local config = load(lib, "wh:configs")[tostring(entry.webhookId)]
    if not config or not config.enabled then
      return finish(lib, id, config and "disabled" or "deleted")
    end
    local status, answer = attempt_once(lib, entry, config, attempt, last_failure)
    if status and status >= 200 and status < 300 then
      return finish(lib, id, "delivered")
    elseif status == 410 then
      local configs = load(lib, "wh:configs")
      configs[tostring(config.id)] = nil
      store(lib, "wh:configs", configs)
      return finish(lib, id, "gone")
    end
    last_failure = { on = now_iso(), content = status and ("HTTP " .. status) or tostring(answer) }
  end
  return finish(lib, id, "failed")
end

local function start_delivery(lib, id)
  update_entry(lib, id, function(e) e.outcome = "pending" end)
  local ok, err = ngx.timer.at(0, deliver, lib, id)
  if not ok then
    finish(lib, id, "not started: " .. tostring(err))
  end
end

-- One event to every enabled webhook (or to ?webhook= alone): the log entries.
local function fire(lib)
  local trigger = ngx.var.arg_trigger or "file.created"
  local trigger_id = ngx.unescape_uri(ngx.var.arg_id or "1")
  local only = tonumber(ngx.var.arg_webhook)
  local payload = { id = tonumber(trigger_id) or trigger_id,
    title = ngx.unescape_uri(ngx.var.arg_title or "Q3/Report \226\128\148 \195\188.docx") }
  local started = {}
  for _, config in pairs(load(lib, "wh:configs")) do
    if config.enabled and (not only or only == config.id) then
      local id = lib.dict:incr("wh:next_log", 1, 0)
      local log = load(lib, "wh:log")
      log[tostring(id)] = { id = id, webhookId = config.id, attempts = {}, payload = payload,
        event = { id = id, createOn = now_iso(), createBy = CREATOR, trigger = trigger,
          triggerId = payload.id } }
      store(lib, "wh:log", log)
      start_delivery(lib, id)
      started[#started + 1] = { id = id, webhookId = config.id }
    end
  end
  return lib.json_send(200, { deliveries = started })
end

local function log_list(lib)
  local list = {}
  for _, entry in pairs(load(lib, "wh:log")) do
    list[#list + 1] = entry
  end
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

---------------------------------------------------------------------------
-- settings/webhook
---------------------------------------------------------------------------

local function url_available(uri)
  local status = http("HEAD", uri)
  return status and status >= 200 and status < 300
end

-- Fields of a create or update body (names bound case-insensitively), or an error text.
local function apply(config, fields, creating)
  for _, key in ipairs({ "name", "uri", "secretkey" }) do
    local v = fields[key]
    if (creating or v ~= nil) and (type(v) ~= "string" or v == "") then
      return key .. " is required"
    end
  end
  if (fields.name and #fields.name > 50) or (fields.secretkey and #fields.secretkey > 50) then
    return "name and secretKey are at most 50 characters"
  end
  config.name, config.uri = fields.name or config.name, fields.uri or config.uri
  config.secretKey = fields.secretkey or config.secretKey
  if fields.enabled ~= nil then
    config.enabled = fields.enabled == true
  end
  if fields.ssl ~= nil then
    config.ssl = fields.ssl == true
  end
  config.triggers = tonumber(fields.triggers) or config.triggers or 0
  config.targetId = fields.targetid or config.targetId
end

local function save(lib, fields, config, creating)
  local problem = fields and apply(config, fields, creating)
  if not fields or problem then
    return lib.err(400, problem or "a JSON body is required")
  end
  if (creating or fields.uri) and not url_available(config.uri) then
    return lib.err(400, "webhook URL not available")
  end
  if creating then
    config.id = lib.dict:incr("wh:next_config", 1, 0)
  end
  local configs = load(lib, "wh:configs")
  configs[tostring(config.id)] = config
  store(lib, "wh:configs", configs)
  return lib.ok(dto(config))
end

local function existing(lib, id)
  return load(lib, "wh:configs")[tostring(id)] or lib.err(404, "webhook not found")
end

function M.route(lib, method, _, rest)
  if not rest or lib.flavor() ~= "docspace"
    or not (rest == "settings/webhook" or rest:match("^settings/webhooks?/")) then
    return nil
  end
  lib.authorized()
  local id = tonumber(rest:match("^settings/webhook/(%d+)$"))
  if rest == "settings/webhook" and method == "POST" then
    return save(lib, lib.body_fields(), { enabled = true, ssl = true }, true)
  elseif rest == "settings/webhook" and method == "PUT" then
    local fields = lib.body_fields()
    local config = existing(lib, fields and tonumber(fields.id))
    return save(lib, fields, config, false)
  elseif rest == "settings/webhook/enable" and method == "PUT" then
    local fields = lib.body_fields() or {}
    local config = existing(lib, tonumber(fields.id))
    return save(lib, { enabled = fields.enabled == true }, config, false)
  elseif rest == "settings/webhook" and method == "GET" then
    local list = {}
    for _, config in pairs(load(lib, "wh:configs")) do
      list[#list + 1] = dto(config)
    end
    table.sort(list, function(a, b) return a.id < b.id end)
    return lib.ok(list)
  elseif id and method == "DELETE" then
    local config = existing(lib, id)
    local configs = load(lib, "wh:configs")
    configs[tostring(id)] = nil
    store(lib, "wh:configs", configs)
    return lib.ok(dto(config))
  elseif rest == "settings/webhooks/log" and method == "GET" then
    return lib.ok(log_list(lib))
  elseif rest:match("^settings/webhook/%d+/retry$") and method == "PUT" then
    -- Sends a logged delivery again: the same event, the same event.id.
    local entry = load(lib, "wh:log")[rest:match("%d+")] or lib.err(404, "webhook log entry not found")
    start_delivery(lib, entry.id)
    return lib.ok({ id = entry.id, webhookId = entry.webhookId })
  end
  return lib.err(405, "Method not allowed")
end

--- Installs the control routes: webhook_fire (?trigger=, ?id=, ?title=, ?webhook=)
--- and webhook_log (every delivery with its attempts and outcome).
function M.install(lib)
  lib.CONTROL.webhook_fire = function() return fire(lib) end
  lib.CONTROL.webhook_log = function() return lib.json_send(200, { log = log_list(lib) }) end
end

return M
