-- onlyoffice: a client for the ONLYOFFICE portal REST API (DocSpace and Workspace).
local name = ...
local core = require "onlyoffice.core"
local loaded = core.module()
if loaded then -- package.loaded was cleared: the module is built once per Lua state
  core.internals = false
  return loaded
end
local pipeline = require "onlyoffice.pipeline"
local auth = require "onlyoffice.auth"
local oauth = require "onlyoffice.oauth"
local api = require "onlyoffice.api"

-- The C core's private half (sessions, credentials, sending, redaction) is
-- handed over once per Lua state; nothing require-able keeps it. It is taken
-- only once every file has loaded; a load that fails while building on it (out
-- of memory, say) leaves it pending in C, where a retry finds it again.
local internals = core.internals
if not internals then
  error("onlyoffice: the internals of onlyoffice.core were taken by other code", 2)
end
local function build()
  local priv = internals()
  local P = pipeline.new(priv)
  auth.new(priv, P)
  oauth.new(priv, P)
  local M = api.new(priv, P, core)
  if name then -- here, inside the pcall: require would add it after we return
    package.loaded[name] = M
  end
  priv.remember(M) -- the hand-over is complete
  core.internals = false -- an existing key: setting it cannot fail for memory
  return M
end
local built, M = pcall(build)
if not built then
  error(M, 0)
end
return M
