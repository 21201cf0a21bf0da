-- Request handlers for examples/nginx/nginx.conf: each portal call is a
-- subrequest to the internal location of onlyoffice.conf, so the worker keeps
-- serving other requests meanwhile.
local cjson = require "cjson.safe"
local portal = require("onlyoffice.ngx").new({ dict = "onlyoffice" })
-- To log every portal request with its status and time, pass in new's options:
--   options = { trace_events = true, trace = function(e) ngx.log(ngx.INFO, "onlyoffice ", e.phase, " ",
--     e.method, " ", e.path, " ", e.status or e.kind or "", " ", e.seconds or "") end }

local M = {}

local function reply(status, doc)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(doc))
  return ngx.exit(ngx.HTTP_OK)
end

-- A failure never shows the portal's details to the client: they go to the log,
-- where the module has already replaced the token and password with ***.
local function failed(err, detail)
  ngx.log(ngx.ERR, "onlyoffice: ", err)
  if detail.kind == "login" or detail.kind == "timeout" then
    -- The service account cannot log in now (wrong password, the portal's
    -- brute-force block, a login still running): say when to come back.
    ngx.header["Retry-After"] = detail.retry_in and math.ceil(detail.retry_in) or 5
    return reply(503, { error = "portal login unavailable", kind = detail.kind, throttled = detail.throttled })
  end
  return reply(502, { error = "portal request failed", kind = detail.kind, status = detail.status })
end

--- GET /me: who the service account is.
function M.me()
  local me, err, detail = portal:get("people/@self")
  if me == nil then
    return failed(err, detail)
  end
  return reply(200, { name = me.displayName, email = me.email })
end

--- GET /documents?page=N: one page of the service account's documents.
function M.documents()
  local page = tonumber(ngx.var.arg_page) or 1
  local content, err, detail = portal:get("files/@my", { count = 25, startIndex = (page - 1) * 25 })
  if content == nil then
    return failed(err, detail)
  end
  local titles = {}
  for _, f in ipairs(content.files) do
    titles[#titles + 1] = { id = f.id, title = f.title }
  end
  return reply(200, { page = page, files = titles, total = content.total })
end

return M
