-- The stateful random test (fuzz/stateful.lua) for a few seconds with a fixed
-- seed, on whatever runtime busted runs on. A failure reports the seed and the
-- shortest failing sequence of operations it found.
local helper = require "spec.helper"
package.path = helper.root .. "/fuzz/?.lua;" .. package.path
local stateful = require "stateful"

describe("stateful random test", function()
  it("keeps every invariant for 3 s of seed 20261129", function()
    local ok, report = stateful.run({ seed = 20261129, seconds = 3, shrink_seconds = 60, quiet = true })
    assert(ok, report)
  end)
end)
