-- Resumable downloads to a path (options.resume): the bytes of a failed
-- attempt stay in "<path>.part" (0600), with the validator of the answer that
-- began it (a strong ETag, else Last-Modified) in "<path>.part.meta". The next
-- attempt asks for the rest with Range and If-Range, so a file changed since
-- comes back whole (200) and starts the part again instead of being spliced.
-- The C sink (src/resume.c) appends on 206, starts again on 200, checks the
-- final size and renames the part into place.
local core = require "onlyoffice.core"

local M = {}

-- Only a meta file of ours (src/files.c's checks): another user's could make a
-- changed file look unchanged and get it spliced onto the part.
local function read_meta(path)
  local value = core.read_private(path .. ".part.meta")
  if not value or #value > 200 then
    return nil
  end
  -- Only a value that can stand in a header line; else no If-Range at all.
  return value and value:match("^[\32-\126]+$") and value or nil
end

--- Marks req (a GET to a path target) as resumable; returns the bytes the
--- part holds, for which it asks no more.
function M.prepare(req, path)
  req.resume = true
  local held = core.file_size(path .. ".part")
  if not held or held == 0 then
    return 0
  end
  local headers = { "Range: bytes=" .. string.format("%.0f", held) .. "-" }
  local validator = read_meta(path)
  if validator then
    headers[2] = "If-Range: " .. validator
  end
  -- Range and If-Range name nothing of the session: they follow a redirect to storage.
  req.headers, req.portable = headers, true
  return held
end

--- What to do with a 416 to a resumed request: "done" when the part already
--- holds the whole file (it is renamed into place), "again" when the part
--- cannot belong to the file (it is dropped, to start from zero), or nil.
function M.refused(final, path, held, durable)
  if not final.status or final.status ~= 416 or held == 0 then
    return nil
  end
  local range = final.headers and final.headers["content-range"]
  local total = tonumber(range and range:match("^bytes%s+%*/(%d+)%s*$"))
  if total == held then
    local ok, err = core.keep_part(path, durable)
    if not ok then
      return nil, err
    end
    return "done"
  end
  os.remove(path .. ".part")
  os.remove(path .. ".part.meta")
  return "again"
end

--- The size of the file at path (after a successful download), or nil.
function M.size(path)
  return (core.file_size(path))
end

return M
