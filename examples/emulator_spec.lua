-- Testing a script that uses onlyoffice against onlyoffice.emulator, with busted:
--   busted examples/emulator_spec.lua
-- (needs the Debian packages nginx and libnginx-mod-http-lua). The script under
-- test is examples/report.lua: it lists "My documents" and uploads report.txt.
local emulator = require "onlyoffice.emulator"
local onlyoffice = require "onlyoffice"
local report = require "report"

describe("report.lua", function()
  local portal
  before_each(function()
    portal = emulator.start{
      flavor = "docspace",
      users = { ["me@example.com"] = { password = "s3cret-pass", name = "Me Example" } },
      files = {
        { title = "plan.docx", content = ("p"):rep(1200) },
        { title = "budget.xlsx", content = ("b"):rep(300) },
        { title = "old.pptx", content = "x", folder = "Archive" }, -- in a subfolder: not listed
      },
    }
  end)
  after_each(function() portal:stop() end)

  it("uploads a report of the documents in My documents", function()
    local entry = assert(report.run(portal.url, "me@example.com", "s3cret-pass"))
    assert.equal("report.txt", entry.title)
    -- What landed on the portal, read back as any user of the module would.
    local s = assert(onlyoffice.login(portal.url, "me@example.com", "s3cret-pass"))
    local chunks = {}
    assert(s:download(entry.id, function(chunk) chunks[#chunks + 1] = chunk return true end))
    s:close()
    local text = table.concat(chunks)
    assert.equal("2 documents\nplan.docx\t1200 bytes\nbudget.xlsx\t300 bytes\n", text)
  end)

  it("asks the portal what it should, and never sends the password in a URL", function()
    assert(report.run(portal.url, "me@example.com", "s3cret-pass"))
    local seen = {}
    for _, r in ipairs(portal:requests()) do
      seen[#seen + 1] = r.method .. " " .. r.path
      for _, v in pairs(r.query) do
        assert.is_nil(tostring(v):find("s3cret", 1, true))
      end
    end
    assert.same({ "POST /api/2.0/authentication", "GET /api/2.0/files/@my", "POST /api/2.0/files/@my/upload" }, seen)
  end)

  it("reports a wrong password", function()
    local entry, err = report.run(portal.url, "me@example.com", "wrong")
    assert.is_nil(entry)
    assert.matches("401", err)
  end)

  it("fails cleanly when the portal keeps failing", function()
    portal:fault("files/@my", { status = 500, times = 0 })
    local entry, err = report.run(portal.url, "me@example.com", "s3cret-pass")
    assert.is_nil(entry)
    assert.matches("500", err)
  end)

  it("rides out one 503 from a busy portal", function()
    portal:fault("files/@my", { status = 503, times = 1 })
    assert(report.run(portal.url, "me@example.com", "s3cret-pass"))
  end)
end)
