-- Shared by the specs: module paths for the runtime under test, and the portal emulator.
local M = {}

local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]*$") or "."
M.root = root
M.runtime = jit and "jit" or _VERSION:match("%d+%.%d+")

package.path = table.concat({ root .. "/lua/?.lua", root .. "/lua/?/init.lua", root .. "/emulator/?.lua",
  package.path }, ";")
package.cpath = (os.getenv("ONLYOFFICE_CPATH") or (root .. "/build/" .. M.runtime .. "/?.so")) .. ";"
  .. package.cpath

local onlyoffice = require "onlyoffice"
local control = require "control"

M.read_file, M.write_file = control.read_file, control.write_file

M.USER, M.PASSWORD = "user@example.com", "correct-horse-7"

--- Starts the emulator; returns it with helpers bound to its two portals.
function M.start(opts)
  local portal = control.start(opts)
  -- Control calls use a throwaway token-only session on the portal root.
  function portal.control(_, name, query, flavor)
    local s = onlyoffice.session(portal[flavor or "docspace"], "control", { retries = 0 })
    local data, err = s:get("/__emu/" .. name, query)
    s:close()
    return assert(data, err)
  end
  function portal.logins(self, user, flavor)
    return self:control("stats", nil, flavor).logins[user or M.USER]
  end
  function portal.valid(self, token, flavor)
    return self:control("valid", { token = token }, flavor).valid
  end
  function portal.reset(self)
    self:control("reset")
  end
  return portal
end

--- Output of a shell command, run without the sanitizer preload (curl hangs under it).
M.sh = control.sh

--- Builds spec/support/<name>.c with gcc into a new temporary folder; returns the
--- folder (for the caller to remove) and the built file.
function M.build_support(name, output, flags)
  local dir = M.sh("mktemp -d /tmp/onlyoffice-" .. name .. ".XXXXXX"):match("%S+")
  local built = dir .. "/" .. output
  M.sh(("gcc -O1 -o %s %s/spec/support/%s.c %s 2>&1"):format(built, root, name, flags))
  return dir, built
end

--- A port on which nothing listens: nginx never binds port 9 (discard) on loopback here.
M.CLOSED_URL = "http://127.0.0.1:9"

--- libcurl's codes for a body that broke off: 18 when the peer's FIN comes
--- first, 56 when its reset does. Which one arrives is up to the TCP stack.
function M.broke_off(detail)
  local code = detail and detail.curl_code
  return code == 18 or code == 56, "curl code " .. tostring(code) .. ", not 18 or 56"
end

function M.is_integer(v)
  if math.type then
    return math.type(v) == "integer"
  end
  return type(v) == "number" and v == math.floor(v)
end

return M
