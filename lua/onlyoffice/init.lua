-- onlyoffice: a client for the ONLYOFFICE portal REST API (DocSpace and Workspace).
local name = ...
local core = require "onlyoffice.core"
local loaded = core.module()
if loaded then -- package.loaded was cleared: the module is built once per Lua state
  return loaded
end
local pipeline = require "onlyoffice.pipeline"
local auth = require "onlyoffice.auth"
local api = require "onlyoffice.api"

-- The C core's private half (sessions, credentials, sending, redaction) is
-- handed over once per loaded core; nothing require-able keeps it. It is taken
-- only once every file has loaded, and given back if building on it fails, so
-- a require that failed (out of memory, say) can be tried again. Nothing done
-- after the hand-over may allocate outside the pcall: both closures exist
-- before it, core.internals is set to false rather than removed (putting a
-- removed key back could need memory), and package.loaded gets its entry
-- inside the pcall (require would otherwise add it after we return).
local internals = core.internals
if not internals then
  error("onlyoffice: the internals of onlyoffice.core were taken by other code", 2)
end
local priv
local function build()
  priv = internals() -- inside the pcall: taking them is the first thing that may fail
  core.internals = false
  local P = pipeline.new(priv)
  auth.new(priv, P)
  local M = api.new(priv, P, core)
  priv.remember(M)
  if name then
    package.loaded[name] = M
  end
  return M
end
local function give_back()
  core.internals = false
  return priv
end
local built, M = pcall(build)
if not built then
  if priv then
    core.internals = give_back
  end
  error(M, 0)
end
return M
