-- A receiver of DocSpace webhooks for examples/nginx/webhook.conf: it checks the
-- signature over the raw body, drops repeats of an event it already took, and
-- answers at once, doing the work in a timer. Replace process() with yours.
local cjson = require "cjson.safe"
local webhook = require "onlyoffice.webhook"

local M = {}

local SEEN_FOR = 7 * 24 * 3600 -- seconds an event id is remembered; DocSpace retries for minutes

-- The work, after the answer is sent (no client, no subrequests: use cosockets).
local function process(premature, delivery)
  local event = delivery.event
  if premature then -- nginx is stopping: the id is marked seen, so say what is lost
    ngx.log(ngx.WARN, "docspace webhook: event ", tostring(event.id), " not processed (nginx stopped)")
    return
  end
  ngx.log(ngx.NOTICE, "docspace webhook: ", event.trigger, " ", tostring(event.triggerId),
    " (event ", tostring(event.id), ")")
end

-- The exact bytes DocSpace signed: in memory, or in nginx's temporary file when
-- the body outgrew client_body_buffer_size.
local function raw_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then
    return body
  end
  local path = ngx.req.get_body_file()
  if not path then
    return "" -- no body at all
  end
  local f = assert(io.open(path, "rb"))
  body = f:read("*a")
  f:close()
  return body
end

local function answer(status, text)
  ngx.status = status
  ngx.say(text)
  return ngx.exit(ngx.HTTP_OK)
end

--- The content handler: HEAD (DocSpace's check at registration) and POST deliveries.
function M.receive()
  local method = ngx.req.get_method()
  if method == "HEAD" then
    return ngx.exit(ngx.HTTP_OK)
  elseif method ~= "POST" then
    return answer(ngx.HTTP_NOT_ALLOWED, "POST only")
  end
  -- From the environment (an `env` directive in nginx.conf), never from code.
  local secret = os.getenv("DOCSPACE_WEBHOOK_SECRET")
  if not secret or secret == "" then
    ngx.log(ngx.ERR, "docspace webhook: DOCSPACE_WEBHOOK_SECRET is not set")
    return answer(ngx.HTTP_INTERNAL_SERVER_ERROR, "not configured")
  end
  local body = raw_body()
  local ok, why = webhook.verify(secret, body, ngx.req.get_headers()["x-docspace-signature-256"])
  if not ok then
    ngx.log(ngx.WARN, "docspace webhook refused: ", why)
    return answer(ngx.HTTP_UNAUTHORIZED, "bad signature")
  end
  local delivery = cjson.decode(body)
  local id = type(delivery) == "table" and type(delivery.event) == "table" and delivery.event.id
  if not id then
    return answer(ngx.HTTP_BAD_REQUEST, "no event id")
  end
  -- Retries resend the same event: the first to add its id does the work.
  local seen = ngx.shared.webhook_events
  local added, err = seen:add("event:" .. tostring(id), true, SEEN_FOR)
  if not added then
    if err == "exists" then
      return answer(ngx.HTTP_OK, "already received")
    end
    ngx.log(ngx.ERR, "docspace webhook: cannot record event ", tostring(id), ": ", err)
    return answer(ngx.HTTP_SERVICE_UNAVAILABLE, "try again")
  end
  local started, terr = ngx.timer.at(0, process, delivery)
  if not started then -- too many timers: forget the id, so that DocSpace's retry is taken
    seen:delete("event:" .. tostring(id))
    ngx.log(ngx.ERR, "docspace webhook: ", terr)
    return answer(ngx.HTTP_SERVICE_UNAVAILABLE, "try again")
  end
  return answer(ngx.HTTP_OK, "ok")
end

return M
