-- The command-line tool's progress bar: one line on stderr, redrawn in place
-- with "\r" at most ten times a second (a terminal that is sent every 16 KiB
-- chunk of a fast download spends more time drawing than the download takes).
--   local bar = progress.new{ write = function(text) io.stderr:write(text) end, clock = core.clock }
--   s:download(id, path, { progress = bar.update }); bar.finish()
local M = {}

local format, floor = string.format, math.floor

M.INTERVAL = 0.1 -- seconds between two redraws
local WIDTH = 20 -- cells of the bar itself

local UNITS = { "B", "KiB", "MiB", "GiB", "TiB" }

--- Bytes for people: "512 B", "1.5 KiB", "12.0 MiB".
function M.size(n)
  local i = 1
  while n >= 1024 and i < #UNITS do
    n, i = n / 1024, i + 1
  end
  return i == 1 and format("%.0f B", n) or format("%.1f %s", n, UNITS[i]) -- a rate has a fraction
end

--- Seconds as "m:ss" or "h:mm:ss".
function M.duration(s)
  s = floor(s + 0.5)
  local h, m = floor(s / 3600), floor(s / 60) % 60
  if h > 0 then
    return format("%d:%02d:%02d", h, m, s % 60)
  end
  return format("%d:%02d", m, s % 60)
end

--- The line for done of total bytes (total nil when unknown) after elapsed seconds.
function M.line(done, total, elapsed)
  local rate = elapsed > 0 and done / elapsed or 0
  local speed = M.size(rate) .. "/s"
  if not total or total <= 0 then
    return format("%s  %s", M.size(done), speed)
  end
  local fraction = math.min(done / total, 1)
  local cells = floor(fraction * WIDTH)
  local eta = rate > 0 and ("ETA " .. M.duration((total - done) / rate)) or "ETA --:--"
  return format("%3d%% [%s%s] %s / %s  %s  %s", floor(fraction * 100), ("#"):rep(cells),
    (" "):rep(WIDTH - cells), M.size(done), M.size(total), speed, eta)
end

--- A bar: { update = function(done, total), finish = function() }. opts.write
--- takes the text, opts.clock gives seconds (monotonic).
function M.new(opts)
  local write, clock = opts.write, opts.clock
  local start = clock()
  local last, shown, ended = nil, 0, false
  local bar = {}

  local function draw(done, total, now)
    local text = M.line(done, total, now - start)
    -- Spaces cover what a longer previous line left behind.
    write("\r" .. text .. (" "):rep(math.max(shown - #text, 0)))
    shown, last = #text, now
  end

  function bar.update(done, total)
    local now = clock()
    local final = total ~= nil and done >= total
    if (final and not ended) or last == nil or now - last >= M.INTERVAL then
      draw(done, total, now)
    end
    ended = final
  end

  --- Ends the line, if anything was drawn, so that what follows starts afresh.
  function bar.finish()
    if last ~= nil then
      write("\n")
      last = nil
    end
  end

  return bar
end

return M
