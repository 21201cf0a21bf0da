-- HMAC-SHA256 (RFC 2104 over FIPS 180-4) in Lua on LuaJIT's bit library, as in
-- nginx: the emulator signs webhook deliveries with code of its own, not with
-- the OpenSSL call of the module it tests, and Debian has no lua-resty-string.
-- Slow (a few MB/s) and fine for deliveries of a few kilobytes.
local bit = require "bit"

local band, bnot, bxor, ror, rshift, tobit = bit.band, bit.bnot, bit.bxor, bit.ror, bit.rshift, bit.tobit
local floor = math.floor

local M = {}

-- The first 32 bits of the fractional parts of the square roots (H0) and cube
-- roots (K) of the first primes; computed rather than typed in, and checked by
-- the known digests in the spec's end-to-end run.
local function fraction_bits(x)
  return tobit(floor((x - floor(x)) * 2 ^ 32))
end

local K, H0 = {}, {}
do
  local primes, n = {}, 2
  while #primes < 64 do
    local prime = true
    for _, p in ipairs(primes) do
      if n % p == 0 then
        prime = false
        break
      end
    end
    if prime then
      primes[#primes + 1] = n
    end
    n = n + 1
  end
  for i = 1, 64 do
    K[i] = fraction_bits(primes[i] ^ (1 / 3))
  end
  for i = 1, 8 do
    H0[i] = fraction_bits(math.sqrt(primes[i]))
  end
end

local function compress(H, s, at)
  local w = {}
  for i = 0, 15 do
    local a, b, c, d = s:byte(at + 4 * i, at + 4 * i + 3)
    w[i] = tobit(((a * 256 + b) * 256 + c) * 256 + d)
  end
  for i = 16, 63 do
    local x, y = w[i - 15], w[i - 2]
    w[i] = tobit(w[i - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) + w[i - 7]
      + bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
  end
  local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
  for i = 0, 63 do
    local t1 = tobit(h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(band(e, f), band(bnot(e), g))
      + K[i + 1] + w[i])
    local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c)))
    h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  local out = { a, b, c, d, e, f, g, h }
  for i = 1, 8 do
    H[i] = tobit(H[i] + out[i])
  end
end

local function be32(x)
  return string.char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
end

--- sha256(message) -> the 32-byte digest
function M.sha256(message)
  local bits = #message * 8
  local padded = message .. "\128" .. string.rep("\0", (55 - #message) % 64)
    .. be32(floor(bits / 2 ^ 32)) .. be32(bits % 2 ^ 32)
  local H = { unpack(H0) }
  for at = 1, #padded, 64 do
    compress(H, padded, at)
  end
  local out = {}
  for i = 1, 8 do
    out[i] = be32(H[i])
  end
  return table.concat(out)
end

local function xor_pad(key, byte)
  return (key:gsub(".", function(c)
    return string.char(bxor(c:byte(), byte))
  end))
end

--- hmac(key, message) -> the digest in upper-case hex, as DocSpace writes it
function M.hmac(key, message)
  if #key > 64 then
    key = M.sha256(key)
  end
  key = key .. string.rep("\0", 64 - #key)
  local mac = M.sha256(xor_pad(key, 0x5c) .. M.sha256(xor_pad(key, 0x36) .. message))
  return (mac:gsub(".", function(c)
    return string.format("%02X", c:byte())
  end))
end

return M
