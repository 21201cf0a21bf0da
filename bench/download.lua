-- Streams file 999000 to a path and reports bytes and seconds; run it under
-- /usr/bin/time to read the peak RSS.   lua5.4 bench/download.lua URL TARGET
local onlyoffice = require "onlyoffice"
local system = require "system"

local s = assert(onlyoffice.login(arg[1], "user@example.com", "correct-horse-7"))
local t0 = system.gettime()
local n = assert(s:download(999000, arg[2]))
print(string.format("%d\t%.2f", n, system.gettime() - t0))
s:close()
