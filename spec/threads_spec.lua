-- The module in several OS threads (one Lua state each) and across fork, driven
-- by a small C program (spec/support/threads.c) against the emulator.
local helper = require "spec.helper"

describe("concurrency", function()
  local portal, dir, program
  setup(function()
    portal = helper.start()
    dir, program = helper.build_support("threads", "threads", "-pthread $(pkg-config --cflags --libs lua5.4)")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf '" .. dir .. "'")
  end)

  it("eight threads, each with its own Lua state and session, all succeed", function()
    portal:reset()
    local out = helper.sh(("%s %s %s threads 50 2>&1"):format(program, helper.root, portal.docspace))
    assert.equal("0 failed\n", out)
    assert.equal(8, portal:logins())
  end)

  it("sessions made after a fork work in both processes", function()
    portal:reset()
    local out = helper.sh(("%s %s %s fork 50 2>&1"):format(program, helper.root, portal.docspace))
    assert.equal("0 failed\n", out)
    assert.equal(3, portal:logins())
  end)
end)
