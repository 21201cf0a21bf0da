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

--- n bytes 0..255 over and over (times 7, offset by seed), so every file differs.
function M.bytes(n, seed)
  local t = {}
  for i = 1, 256 do
    t[i] = string.char((i * 7 + (seed or 0)) % 256)
  end
  return (table.concat(t):rep(math.floor(n / 256) + 1)):sub(1, n)
end

--- s quoted for the shell.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- A file's mode in octal ("600"), or nil.
function M.mode_of(path)
  return M.sh("stat -c %a " .. M.quote(path) .. " 2>/dev/null"):match("%d+")
end

--- A reader (ltn12 source) that hands content out in pieces of growing, uneven size.
function M.reader_of(content)
  local pos, step = 1, 1
  return function()
    if pos > #content then
      return nil
    end
    local piece = content:sub(pos, pos + step - 1)
    pos, step = pos + #piece, step * 3 + 1
    return piece
  end
end

--- The file's bytes downloaded through a sink, and the count s:download returned.
function M.download_string(s, id, opts)
  local parts = {}
  local n, err = s:download(id, function(chunk)
    parts[#parts + 1] = chunk
  end, opts)
  assert(n, err)
  return table.concat(parts), n
end

--- Progress calls { done, total }: at least one, all with total, never going
--- back (rising at every call when strict), the last total, total.
function M.assert_progress(seen, total, strict)
  -- busted's assert lives in each spec file's environment, not here.
  local check = require "luassert"
  check.is_true(#seen >= 1, "progress was never called")
  for i, p in ipairs(seen) do
    check.equal(total, p[2])
    if i > 1 then
      local rose = strict and p[1] > seen[i - 1][1] or (not strict and p[1] >= seen[i - 1][1])
      check.is_true(rose, ("progress went from %d to %d"):format(seen[i - 1][1], p[1]))
    end
  end
  check.same({ total, total }, seen[#seen])
end

function M.is_integer(v)
  if math.type then
    return math.type(v) == "integer"
  end
  return type(v) == "number" and v == math.floor(v)
end

return M
