-- Checks and normalises what callers pass in. Programmer mistakes raise here,
-- with the level pointing at the caller's line.
local json = require "onlyoffice.json"

local M = {}

local METHODS = { GET = true, POST = true, PUT = true, DELETE = true, PATCH = true, HEAD = true }

-- option name -> Lua type; anything else is a typo worth reporting.
local OPTIONS = {
  timeout = "number", connect_timeout = "number", stall_timeout = "number", verify = "boolean",
  cafile = "string", proxy = "string", user_agent = "string", headers = "table", relogin = "boolean",
  retries = "number", code = "string", max_body = "number", max_retry_wait = "number",
  trace = "function", transport = "string", location = "string", token_file = "string",
  capath = "string", client_cert = "string", client_key = "string", client_key_password = "string",
  pinned_pubkey = "string", resolve = "table", ip_resolve = "string", http_version = "string",
  trace_events = "boolean",
}

-- What the curl transport does itself and, with transport "ngx", the internal
-- location's directives do instead: refused there rather than ignored.
local CURL_ONLY = { "timeout", "connect_timeout", "stall_timeout", "verify", "cafile", "proxy", "headers",
  "capath", "client_cert", "client_key", "client_key_password", "pinned_pubkey", "resolve", "ip_resolve",
  "http_version" }

-- String options libcurl reads as paths, URLs or pins: one line each.
local LINES = { "user_agent", "cafile", "proxy", "capath", "client_cert", "client_key", "client_key_password",
  "pinned_pubkey" }

-- The choices of the options that take one of a few words.
local CHOICES = {
  ip_resolve = { { v4 = true, v6 = true, any = true }, '"v4", "v6" or "any"' },
  -- No HTTP/2: nghttp2 keeps copies of the token that the module cannot wipe.
  http_version = { { ["1.0"] = true, ["1.1"] = true }, '"1.0" or "1.1" (HTTP/2 is not offered)' },
}

-- Numeric options: the range each must fall in, so that no value silently
-- means "no limit" and every conversion in C stays defined.
local RANGES = {
  timeout = { 0.001, 31536000, "seconds" }, connect_timeout = { 0.001, 31536000, "seconds" },
  stall_timeout = { 1, 86400, "seconds", true }, max_retry_wait = { 0, 86400, "seconds" },
  max_body = { 1, 2 ^ 53, "bytes", true }, retries = { 0, 100, "retries", true },
}

-- `level` counts like error()'s, from the caller of the M function: 1 is that
-- caller, 2 its caller; fail() and the M function add two frames of their own.
local function fail(level, fmt, ...)
  error(string.format(fmt, ...), level + 2)
end

local FRAMING = { ["content-length"] = true, ["transfer-encoding"] = true, upgrade = true,
  te = true, trailer = true, ["keep-alive"] = true, host = true }

local function has_control(s)
  return s:find("[%z\r\n]") ~= nil
end

--- The portal root URL without a trailing slash.
function M.base_url(url, level)
  if type(url) ~= "string" then
    fail(level, "portal URL must be a string, got %s", type(url))
  end
  if not url:match("^[hH][tT][tT][pP][sS]?://[^/?#%s]+") then
    fail(level, "portal URL must start with http:// or https:// and a host, got %q", url)
  end
  if url:find("[%s%z?#]") then
    fail(level, "portal URL must not contain spaces, control characters, '?' or '#'")
  end
  if url:match("^%a+://[^/]*@") then -- it would show in tostring(s), traces and messages
    fail(level, "portal URL must not hold a user name or password (user@host): pass them to login")
  end
  return (url:gsub("/+$", ""))
end

function M.method(method, level)
  if type(method) ~= "string" then
    fail(level, "HTTP method must be a string, got %s", type(method))
  end
  local upper = method:upper()
  if not METHODS[upper] then
    fail(level, "unknown HTTP method %q (GET, POST, PUT, DELETE, PATCH or HEAD)", method)
  end
  return upper
end

local function escape_byte(c)
  return string.format("%%%02X", c:byte())
end

local function encode_component(s)
  -- ASCII ranges, not %w: %w follows the C locale and may pass bytes >= 0x80.
  return (s:gsub("[^A-Za-z0-9%-%._~]", escape_byte))
end

--- url with the bytes that may not appear in a URL escaped; existing %XX
--- escapes stay.
function M.escape_url(url)
  return (url:gsub("[^A-Za-z0-9%-%._~!$&'()*+,;=:@/?%%]", escape_byte))
end

--- A number as the portal should read it: integers with all their digits
--- (above 2^53 included), other numbers with enough digits to round-trip.
function M.number_text(v)
  if math.type and math.type(v) == "integer" then
    return string.format("%d", v)
  elseif v == math.floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then
    return string.format("%.0f", v)
  end
  return string.format("%.17g", v)
end

local function query_value(key, v, level)
  local t = type(v)
  if t == "string" then
    return v
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "number" and v == v and v ~= math.huge and v ~= -math.huge then
    return M.number_text(v)
  elseif t == "number" then
    fail(level, "query value for %q must be a finite number, got %s", key, tostring(v))
  end
  fail(level, "query value for %q must be a string, number or boolean, got %s", key, t)
end

--- Encodes a query table: keys sorted, arrays as repeated keys.
function M.query(q, level)
  if type(q) ~= "table" then
    fail(level, "query must be a table, got %s", type(q))
  end
  local keys = {}
  for k in pairs(q) do
    if type(k) ~= "string" then
      fail(level, "query keys must be strings, got %s", type(k))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = q[k]
    local list = v
    if type(v) ~= "table" then
      list = { v }
    else
      local n = 0
      for _ in pairs(v) do
        n = n + 1
      end
      if n ~= #v or (n > 0 and v[n] == nil) then -- extra keys or holes would be lost
        fail(level, "query value for %q must be a string, number, boolean or a list of them", k)
      end
    end
    for _, item in ipairs(list) do
      parts[#parts + 1] = encode_component(k) .. "=" .. encode_component(query_value(k, item, level + 1))
    end
  end
  return table.concat(parts, "&")
end

--- The request target below the portal root: "/api/2.0/..." plus the query.
function M.target(path, query, level)
  if type(path) ~= "string" then
    fail(level, "path must be a string, got %s", type(path))
  end
  if has_control(path) then
    fail(level, "path must not contain CR, LF or NUL")
  end
  if path:sub(1, 1) ~= "/" then
    path = "/api/2.0/" .. path
  end
  path = M.escape_url(path)
  if query ~= nil then
    local q = M.query(query, level + 1)
    if q ~= "" then
      path = path .. (path:find("?", 1, true) and "&" or "?") .. q
    end
  end
  return path
end

--- Header table {name = value} as sorted "Name: value" lines.
function M.header_lines(headers, level)
  if type(headers) ~= "table" then
    fail(level, "headers must be a table, got %s", type(headers))
  end
  local lines, seen = {}, {}
  for name, value in pairs(headers) do
    if type(name) ~= "string" or not name:match("^[A-Za-z0-9!#$%%&'*+%-.^_`|~]+$") then
      fail(level, "invalid header name %q", tostring(name))
    end
    if name:lower() == "authorization" then
      fail(level, "the Authorization header is set by the session")
    end
    if FRAMING[name:lower()] then -- these would break the kept-alive connection's framing
      fail(level, "the %s header is set by libcurl", name)
    end
    if seen[name:lower()] then -- names are case-insensitive: both would be sent
      fail(level, "header %q is given twice", name)
    end
    seen[name:lower()] = true
    if type(value) ~= "string" and type(value) ~= "number" then
      fail(level, "header %q must be a string or number, got %s", name, type(value))
    end
    value = tostring(value)
    if has_control(value) then
      fail(level, "header %q must not contain CR, LF or NUL", name)
    end
    if not value:find("%S") then -- libcurl would drop the header or send it blank
      fail(level, "header %q must not be empty", name)
    end
    lines[#lines + 1] = name .. ": " .. value
  end
  table.sort(lines)
  return lines
end

--- Checks that every field of opts is named in known (name -> Lua type) with
--- that type; returns a shallow copy.
function M.known(opts, known, level)
  local copy = {}
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then
      fail(level, "unknown option %q", tostring(k))
    end
    if type(v) ~= want then
      fail(level, "option %q must be a %s, got %s", k, want, type(v))
    end
    copy[k] = v
  end
  return copy
end

--- Checks that the numeric options in opts are within their ranges.
function M.ranges(opts, level)
  for k, r in pairs(RANGES) do
    local v = opts[k]
    if v ~= nil and not (v >= r[1] and v <= r[2] and (not r[4] or v == math.floor(v))) then
      fail(level, "option %q must be %s from %s to %s %s", k, r[4] and "a whole number" or "a number",
        M.number_text(r[1]), M.number_text(r[2]), r[3])
    end
  end
end

--- Checks option names and types; returns a copy ready for the C core.
function M.options(opts, level)
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    fail(level, "options must be a table, got %s", type(opts))
  end
  local copy = M.known(opts, OPTIONS, level + 1)
  M.ranges(copy, level + 1)
  for _, k in ipairs(LINES) do
    if copy[k] ~= nil and has_control(copy[k]) then
      fail(level, "option %q must not contain CR, LF or NUL", k)
    end
  end
  M.network(copy, level + 1)
  if copy.trace_events and not copy.trace then
    fail(level, "option \"trace_events\" needs a trace function")
  end
  if copy.user_agent == "" then
    fail(level, "option \"user_agent\" must not be empty")
  end
  if copy.code ~= nil and not (copy.code:match("^[A-Za-z0-9]+$") and #copy.code <= 64) then
    fail(level, "option \"code\" must be 1 to 64 letters or digits")
  end
  M.transport(copy, level + 1)
  if copy.headers then
    copy.headers = M.header_lines(copy.headers, level + 1)
  end
  return copy
end

-- "host:port:address[,address...]", or "-host:port" to drop an entry; an
-- IPv6 address in brackets.
local function resolve_entry(entry)
  return type(entry) == "string" and not has_control(entry)
    and (entry:match("^%+?[^:%s,]+:%d+:[%[%]%x%.:,]+$") or entry:match("^%-[^:%s,]+:%d+$")) ~= nil
end

-- A PEM or DER file, or "sha256//<base64>" hashes joined by ";".
local function pin_ok(pin)
  if pin == "" then
    return false
  elseif pin:sub(1, 7) ~= "sha256/" then
    return true
  end
  for item in (pin .. ";"):gmatch("([^;]*);") do
    if not item:match("^sha256//[A-Za-z0-9+/]+=*$") then
      return false
    end
  end
  return true
end

--- Checks the choices, the pin and the resolve list.
function M.network(opts, level)
  for k, choices in pairs(CHOICES) do
    local v = opts[k]
    if v ~= nil and not choices[1][v] then
      fail(level, "option %q must be %s, got %q", k, choices[2], v)
    end
  end
  if opts.pinned_pubkey ~= nil and not pin_ok(opts.pinned_pubkey) then
    fail(level, "option \"pinned_pubkey\" must be a file or \"sha256//<base64>\" (several joined by ;)")
  end
  local list = opts.resolve
  if list ~= nil then
    local n = 0
    for _ in pairs(list) do
      n = n + 1
    end
    if n ~= #list then
      fail(level, "option \"resolve\" must be a list of \"host:port:address\" strings")
    end
    for i, entry in ipairs(list) do
      if not resolve_entry(entry) then
        fail(level, "option \"resolve\" entry %d must be \"host:port:address\", got %s", i,
          type(entry) == "string" and string.format("%q", entry) or type(entry))
      end
    end
  end
end

--- Checks the transport options: "curl" (the default) or "ngx" with its location.
function M.transport(opts, level)
  local transport = opts.transport
  if transport == nil or transport == "curl" then
    if opts.location ~= nil then
      fail(level, "option \"location\" belongs to transport \"ngx\"")
    end
    return
  end
  if transport ~= "ngx" then
    fail(level, "option \"transport\" must be \"curl\" or \"ngx\", got %q", transport)
  end
  for _, k in ipairs(CURL_ONLY) do
    if opts[k] ~= nil then
      fail(level, "option %q has no effect with transport \"ngx\": set it on the internal location", k)
    end
  end
  if opts.location ~= nil and not opts.location:match("^/[A-Za-z0-9%-%._~/]*$") then
    fail(level, "option \"location\" must be a path of letters, digits and -._~/ starting with /")
  end
end

local REQUEST_OPTIONS = { query = "table", headers = "table", timeout = "number" }

--- Checks the options of one request ({ query=, body=, headers=, timeout= }).
function M.request_options(opts, level)
  if opts == nil then
    return {}
  elseif type(opts) ~= "table" then
    fail(level, "request options must be a table, got %s", type(opts))
  end
  local body = opts.body
  local rest = {}
  for k, v in pairs(opts) do
    if k ~= "body" then
      rest[k] = v
    end
  end
  rest = M.known(rest, REQUEST_OPTIONS, level + 1)
  if rest.timeout ~= nil then
    M.ranges({ timeout = rest.timeout }, level + 1)
  end
  rest.body = body
  return rest
end

--- A request body as text: a table as JSON, a string as it is.
function M.body(body, level)
  if type(body) == "table" then
    local text, err = json.encode(body)
    if not text then
      fail(level, "body cannot be encoded as JSON: %s", tostring(err))
    end
    return text
  elseif type(body) ~= "string" then
    fail(level, "body must be a table or a string, got %s", type(body))
  end
  return body
end

--- Checks a call's own options against known (name -> Lua type); {} for nil.
function M.call_options(opts, known, level)
  if opts == nil then
    return {}
  elseif type(opts) ~= "table" then
    fail(level, "options must be a table, got %s", type(opts))
  end
  local checked = M.known(opts, known, level + 1) -- not a tail call: keep the frame count
  return checked
end

--- For the one-table call form: the named fields in order, then the other fields.
function M.named(t, names)
  local opts, values = {}, {}
  for k, v in pairs(t) do
    opts[k] = v
  end
  for i, name in ipairs(names) do
    values[i] = opts[name]
    opts[name] = nil
  end
  values[#names + 1] = opts
  return values
end

return M
