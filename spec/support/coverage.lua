-- Sums up gcovr's JSON summary for ./run tests: a short table, one row per file
-- of src/, then the line "coverage of src/: lines L %, branches B %".
--   lua5.4 spec/support/coverage.lua SUMMARY.json [WHAT THE SPECS DID]
local cjson = require "cjson"

local f = assert(io.open(assert(arg[1], "usage: coverage.lua SUMMARY.json [NOTE]"), "rb"))
local summary = cjson.decode(f:read("*a"))
f:close()

local function percent(covered, total)
  if (total or 0) == 0 then
    return "   -  "
  end
  return ("%5.1f %%"):format(100 * covered / total)
end

if arg[2] and arg[2] ~= "" then
  print("over the 5.4 specs on the gcov build (" .. arg[2] .. ")")
end
print(("  %-22s %8s %6s  %8s %6s"):format("file", "lines", "of", "branches", "of"))
for _, file in ipairs(summary.files or {}) do
  print(("  %-22s %8s %6d  %8s %6d"):format(file.filename, percent(file.line_covered, file.line_total),
    file.line_total, percent(file.branch_covered, file.branch_total), file.branch_total))
end
print(("coverage of src/: lines %s, branches %s"):format(
  percent(summary.line_covered, summary.line_total):match("^%s*(.-)$"),
  percent(summary.branch_covered, summary.branch_total):match("^%s*(.-)$")))
