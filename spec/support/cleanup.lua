-- busted --helper (./run tests passes it): after each spec file, stops the portal
-- emulators (and nginx_spec's application nginx) that the file started and did
-- not stop: a setup that fails after starting one, an `it` whose assertion fails
-- before its stop, a teardown that errors. Each would leave its nginx running
-- for the rest of the run and after it.
-- Only emulator/control.lua is loaded here: a module that does not build yet
-- must not keep the specs from running and reporting it.
local here = debug.getinfo(1, "S").source:sub(2)
local root = here:match("^(.*)/spec/support/[^/]*$") or "."
package.path = root .. "/emulator/?.lua;" .. package.path

local control = require "control"
local busted = require "busted"

busted.subscribe({ "file", "end" }, function()
  control.stop_all()
  return nil, true
end)
