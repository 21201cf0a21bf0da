-- The released rock as a user gets it: ./run packs it (tools/release pack),
-- installs that .src.rock into a fresh tree and runs this with the tree alone on
-- the module paths, against a running emulator:
--   lua5.4 spec/support/installed_rock.lua TREE VERSION DOCSPACE_URL
-- It fails (raises) unless the module comes from TREE, logs in, reads
-- people/@self, and both _VERSION and the User-Agent the portal saw are VERSION.
local tree, version, url = arg[1], arg[2], arg[3]
assert(tree and version and url, "usage: installed_rock.lua TREE VERSION DOCSPACE_URL")

local function from_tree(name, path)
  local file = assert(package.searchpath(name, path), name .. " not found")
  assert(file:sub(1, #tree + 1) == tree .. "/", name .. " comes from " .. file .. ", not from " .. tree)
end

local onlyoffice = require "onlyoffice"
from_tree("onlyoffice", package.path)
from_tree("onlyoffice.version", package.path)
from_tree("onlyoffice.core", package.cpath)
assert(package.loaded["onlyoffice.core"], "onlyoffice.core was not loaded")
assert(onlyoffice._VERSION == version, ("_VERSION is %s, not %s"):format(onlyoffice._VERSION, version))

local s = assert(onlyoffice.login(url, "user@example.com", "correct-horse-7"))
local me = assert(s:get("people/@self"))
assert(me.email == "user@example.com", "people/@self is someone else")
local seen = assert(s:get("emu/echo"))
local agent = "lua-onlyoffice/" .. version
assert(seen.headers["user-agent"] == agent,
  ("the portal saw User-Agent %s, not %s"):format(tostring(seen.headers["user-agent"]), agent))
assert(s:logout())
s:close()
print(("onlyoffice %s from %s: logged in as %s, User-Agent %s"):format(version, tree, me.email, agent))
