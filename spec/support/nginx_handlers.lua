-- Handlers the nginx spec needs beyond the example's.
local portal = require("onlyoffice.ngx").new({ pool = "onlyoffice", dict = "onlyoffice" })

local M = {}

--- GET /slow?ms=N: a portal call that takes N ms; answers "slow <status>".
function M.slow()
  local data, err, detail = portal:get("emu/slow", { ms = tonumber(ngx.var.arg_ms) or 1000 })
  if not data then
    ngx.status = detail.busy and 503 or 502
    ngx.say(err)
    return ngx.exit(ngx.HTTP_OK)
  end
  ngx.say("slow ok")
end

--- GET /me_file: like /me, with the credentials read from a file in the thread.
function M.me_from_file()
  local p = require("onlyoffice.ngx").new({ pool = "onlyoffice", dict = "onlyoffice",
    credentials_file = ngx.var.credentials_file })
  local me, err = p:get("people/@self")
  ngx.say(me and me.email or err)
end

return M
