-- The `onlyoffice` command: a thin layer over the module for shells and
-- scripts. bin/onlyoffice calls M.main(arg) and exits with what it returns.
-- Credentials come from the environment only: arguments show up in `ps` and
-- in shell history.
local onlyoffice = require "onlyoffice"
local core = require "onlyoffice.core"
local json = require "onlyoffice.json"
local cli_json = require "onlyoffice.cli_json"
local progress = require "onlyoffice.cli_progress"

local M = {}

local unpack = table.unpack or unpack

--- Exit statuses: one per family of detail.kind.
M.EXIT = { ok = 0, portal = 1, usage = 2, credentials = 3, network = 4, files = 5 }
local KIND_EXIT = {
  http = 1, rate_limit = 1, redirect = 1, operation = 1,
  login = 3, auth = 3,
  network = 4, timeout = 4, tls = 4, json = 4, too_large = 4, closed = 4,
  io = 5, source = 5, sink = 5, range = 5,
}

M.USAGE = [[
usage: onlyoffice [--pretty | --compact] COMMAND [ARGUMENTS]

  get PATH [key=value ...]       GET, key=value pairs as the query
  delete PATH [key=value ...]    DELETE, key=value pairs as the query
  post PATH [key=value ...]      POST, key=value pairs as a JSON body
  put PATH [key=value ...]       PUT, key=value pairs as a JSON body
  upload FOLDER FILE             upload FILE into FOLDER (an id or @my), print its entry
  download FILE_ID PATH          download a file to PATH ("-": standard output)
  ls [FOLDER]                    list a folder (default @my): type, id, title
  whoami                         the user the credentials belong to

PATH is relative to /api/2.0/ unless it starts with "/". In bodies, values that
read as JSON numbers, true, false or null are sent as such, other values as
strings; key:=JSON sends a raw JSON value (key:='[1,2]', key:='"007"').
Answers are JSON: indented with sorted keys on a terminal, compact otherwise.

Environment (credentials are never taken from arguments):
  ONLYOFFICE_URL                 the portal, https://portal.example.com
  ONLYOFFICE_API_KEY             a DocSpace API key, or else:
  ONLYOFFICE_USER, ONLYOFFICE_PASSWORD [, ONLYOFFICE_CODE]   a login (code: two-factor)
  ONLYOFFICE_TOKEN_FILE          keep the login's token in this file between runs
  ONLYOFFICE_TRACE=1             print each request's method, path and status on stderr

Exit status: 0 done, 1 the portal refused (HTTP error), 2 wrong usage,
3 credentials refused, 4 no usable answer (network, TLS, timeout), 5 local file error.
]]

-- Any text bound for the terminal: control characters (a portal's text
-- included) are shown, not obeyed.
-- Bidirectional overrides and isolates (U+202A-202E, U+2066-2069): a title
-- could display as another ("RED<U+202E>fdp.exe").
local BIDI = { ["\226\128\170"] = true, ["\226\128\171"] = true, ["\226\128\172"] = true,
  ["\226\128\173"] = true, ["\226\128\174"] = true, ["\226\129\166"] = true, ["\226\129\167"] = true,
  ["\226\129\168"] = true, ["\226\129\169"] = true }

local function printable(text)
  text = tostring(text):gsub("[%c]", function(c)
    return ("\\x%02x"):format(c:byte())
  end)
  text = text:gsub("\226[\128\129][\160-\191]", function(c)
    return BIDI[c] and ("\\u%04x"):format(((c:byte(2) - 128) * 64) + (c:byte(3) - 128) + 0x2000) or c
  end)
  return (text:gsub("\194([\128-\159])", function(c)
    return ("\\x%02x"):format(c:byte())
  end))
end

local function fail(status, message)
  io.stderr:write("onlyoffice: ", printable(message), "\n")
  return status
end

local function usage_error(message)
  io.stderr:write("onlyoffice: ", printable(message), "\n", M.USAGE)
  return M.EXIT.usage
end

local function failure(message, detail)
  local kind = type(detail) == "table" and detail.kind or nil
  return fail(KIND_EXIT[kind] or M.EXIT.portal, message)
end

--- Whether file descriptor fd (1 or 2) is a terminal, asked of the shell's `test -t`.
function M.is_terminal(fd)
  local ok, how, code = os.execute("test -t " .. fd)
  if type(ok) == "number" then -- Lua 5.1 and LuaJIT: the status alone
    return ok == 0
  end
  return ok == true and how == "exit" and code == 0
end

---------------------------------------------------------------------------
-- Arguments
---------------------------------------------------------------------------

-- Options that would carry a credential: refused with their own message.
local SECRET_WORDS = { "pass", "token", "key", "secret", "code", "cred", "auth", "user", "login" }

local function secret_option(name)
  name = name:lower()
  for _, word in ipairs(SECRET_WORDS) do
    if name:find(word, 1, true) then
      return true
    end
  end
  return false
end

-- Splits argv into options and words; returns them, or nil and an exit status.
local function parse_options(argv)
  local opts, words, ended = {}, {}, false
  for i = 1, #argv do
    local a = argv[i]
    if ended or a:sub(1, 1) ~= "-" or a == "-" then
      words[#words + 1] = a
    elseif a == "--" then
      ended = true
    elseif a == "-h" or a == "--help" then
      opts.help = true
    elseif a == "--pretty" or a == "--compact" then
      opts.pretty = a == "--pretty"
    elseif secret_option(a:match("^%-*([^=]*)")) then
      return nil, fail(M.EXIT.usage, ("%s: credentials are read from the environment only "
        .. "(ONLYOFFICE_API_KEY, or ONLYOFFICE_USER, ONLYOFFICE_PASSWORD and ONLYOFFICE_CODE), "
        .. "never from arguments, which other users see in ps and which stay in shell history")
        :format(a:match("^[^=]*")))
    else
      return nil, usage_error("unknown option " .. a:match("^[^=]*"))
    end
  end
  return opts, words
end

-- key=value pairs as a query table: a key given twice becomes a list.
local function query_of(pairs_list)
  local q = {}
  for _, a in ipairs(pairs_list) do
    local key, raw, value = a:match("^([^=]-)(:?)=(.*)$")
    if not key or key == "" then
      return nil, "expected key=value, got " .. a
    elseif raw == ":" then
      return nil, key .. ":=JSON is for the bodies of post and put; use " .. key .. "=value"
    end
    local old = q[key]
    if old == nil then
      q[key] = value
    elseif type(old) == "table" then
      old[#old + 1] = value
    else
      q[key] = { old, value }
    end
  end
  return q
end

-- key=value and key:=json pairs as the text of a JSON object (nil for none),
-- built as text so that raw values reach the portal as they were typed.
local function body_of(pairs_list)
  local parts, seen = {}, {}
  for _, a in ipairs(pairs_list) do
    local key, raw, value = a:match("^([^=]-)(:?)=(.*)$")
    if not key or key == "" then
      return nil, "expected key=value or key:=JSON, got " .. a
    elseif seen[key] then
      return nil, "key " .. key .. " given twice"
    end
    seen[key] = true
    if raw == ":" then
      local ok, err = json.decode(value)
      if ok == nil then
        return nil, key .. ":= takes JSON: " .. tostring(err)
      end
    elseif not cli_json.scalar(value) then
      value = cli_json.string(value)
    end
    parts[#parts + 1] = cli_json.string(key) .. ":" .. value
  end
  if #parts == 0 then
    return nil
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

---------------------------------------------------------------------------
-- Credentials
---------------------------------------------------------------------------

local function session_options(getenv)
  if getenv("ONLYOFFICE_TRACE") == "1" then
    return { trace = function(line)
      io.stderr:write(printable(line), "\n")
    end }
  end
  return {}
end

-- A session from the environment: s, or nil and an exit status.
local function connect(getenv)
  local url = getenv("ONLYOFFICE_URL")
  if url == nil or url == "" then
    return nil, fail(M.EXIT.usage, "ONLYOFFICE_URL is not set (the portal, https://portal.example.com)")
  end
  local opts = session_options(getenv)
  local key, user, password = getenv("ONLYOFFICE_API_KEY"), getenv("ONLYOFFICE_USER"), getenv("ONLYOFFICE_PASSWORD")
  local ok, s, err, detail
  if key and key ~= "" then
    opts.api_key = key
    ok, s, err = pcall(onlyoffice.session, url, opts)
  elseif user and user ~= "" and password then
    opts.code = getenv("ONLYOFFICE_CODE")
    if opts.code == "" then
      opts.code = nil
    end
    local token_file = getenv("ONLYOFFICE_TOKEN_FILE")
    opts.token_file = token_file ~= "" and token_file or nil
    ok, s, err, detail = pcall(onlyoffice.login, url, user, password, opts)
  else
    return nil, fail(M.EXIT.usage, "no credentials: set ONLYOFFICE_API_KEY, or ONLYOFFICE_USER and "
      .. "ONLYOFFICE_PASSWORD (and ONLYOFFICE_CODE for two-factor accounts)")
  end
  if not ok then -- a malformed URL or option: the environment is wrong
    return nil, fail(M.EXIT.usage, s)
  elseif s == nil then
    if type(detail) == "table" and (detail.tfa or detail.sms) then
      err = err .. " (set ONLYOFFICE_CODE)"
    end
    return nil, failure(err, detail)
  end
  return s, nil, opts.token_file ~= nil or opts.api_key ~= nil
end

---------------------------------------------------------------------------
-- Commands: each runs with (s, words, ctx) and returns an exit status.
---------------------------------------------------------------------------

-- Writes to standard output; a failure (a full disk, a closed pipe) is kept
-- for main, which then exits with the local-file status.
local stdout_failed
local function out(...)
  local ok, err = io.stdout:write(...)
  if not ok then
    stdout_failed = stdout_failed or err
  end
end

local function print_json(ctx, value)
  out(cli_json.encode(value, ctx.pretty), "\n")
  return M.EXIT.ok
end

-- Calls fn(...) (a module method); a raised error is a wrong argument.
local function call(fn, ...)
  local ok, data, err, detail = pcall(fn, ...)
  if not ok then
    return nil, data, { kind = "usage" }
  end
  return data, err, detail
end

local function finish(ctx, data, err, detail)
  if data == nil then
    if type(detail) == "table" and detail.kind == "usage" then
      return usage_error(err)
    end
    return failure(err, detail)
  end
  return print_json(ctx, data)
end

local function request(method)
  return function(s, words, ctx)
    local path, list = words[1], { unpack(words, 2) }
    local opts, err = {}
    if method == "POST" or method == "PUT" then
      opts.body, err = body_of(list)
    else
      opts.query, err = query_of(list)
    end
    if err then
      return usage_error(err)
    end
    return finish(ctx, call(s.request, s, method, path, opts))
  end
end

-- An id as the module takes it, or nil.
local function id_of(text)
  return text:match("^[A-Za-z0-9@_-]+$") and (tonumber(text:match("^%d+$") or "") or text) or nil
end

-- A progress bar on stderr when it is a terminal; otherwise nothing.
local function bar_for(ctx)
  if not ctx.stderr_terminal then
    return { finish = function() end }
  end
  local bar = progress.new { write = function(text)
    io.stderr:write(text)
  end, clock = core.clock }
  -- The bar is a nicety: should drawing it fail, it stops, the transfer goes on.
  local update, broken = bar.update, false
  bar.update = function(done, total)
    if not broken and not pcall(update, done, total) then
      broken = true
    end
  end
  return bar
end

local function upload(s, words, ctx)
  local folder = id_of(words[1])
  if not folder then
    return usage_error("not a folder id: " .. words[1])
  end
  local bar = bar_for(ctx)
  local data, err, detail = call(s.upload, s, folder, words[2], { progress = bar.update })
  bar.finish()
  return finish(ctx, data, err, detail)
end

-- Standard output as an ltn12 sink.
local function stdout_sink(chunk)
  if chunk ~= nil then
    local ok, err = io.stdout:write(chunk)
    if not ok then
      return nil, err
    end
  end
  return true
end

local function download(s, words, ctx)
  local id = id_of(words[1])
  if not id then
    return usage_error("not a file id: " .. words[1])
  end
  local target = words[2] == "-" and stdout_sink or words[2]
  local bar = bar_for(ctx)
  local bytes, err, detail = call(s.download, s, id, target, { progress = bar.update })
  bar.finish()
  if bytes == nil then
    return finish(ctx, nil, err, detail)
  end
  return M.EXIT.ok
end

-- pages raises a failure with the location of the loop that called it.
local function strip_location(message)
  return (tostring(message):gsub("^[^\n]-cli%.lua:%d+: ", "", 1))
end

local function ls(s, words)
  local folder = id_of(words[1] or "@my")
  if not folder then
    return usage_error("not a folder id: " .. words[1])
  end
  local ok, err = pcall(function()
    for entry in s:pages("files/" .. folder) do
      local kind = entry.fileExst ~= nil and "file" or "folder"
      out(kind, "\t", printable(entry.id), "\t", printable(entry.title), "\n")
    end
  end)
  if not ok then
    -- s:pages raises a message only: the first page asked again tells the
    -- kind (refused credentials, no answer), as for the other commands.
    local first, _, detail = s:get("files/" .. folder, { count = 1 })
    if first == nil then
      return failure(strip_location(err), detail)
    end
    return fail(M.EXIT.portal, strip_location(err))
  end
  return M.EXIT.ok
end

local function whoami(s)
  local me, err, detail = s:get("people/@self")
  if me == nil then
    return failure(err, detail)
  end
  out(printable(me.displayName), " <", printable(me.email), ">\n")
  return M.EXIT.ok
end

-- name = { run, fewest words, most words }
local COMMANDS = {
  get = { request("GET"), 1, math.huge },
  delete = { request("DELETE"), 1, math.huge },
  post = { request("POST"), 1, math.huge },
  put = { request("PUT"), 1, math.huge },
  upload = { upload, 2, 2 },
  download = { download, 2, 2 },
  ls = { ls, 0, 1 },
  whoami = { whoami, 0, 0 },
}

--- Runs the tool with argv (a list of strings) and getenv (os.getenv by
--- default); returns the exit status.
function M.main(argv, getenv)
  getenv = getenv or os.getenv
  local opts, words = parse_options(argv)
  if not opts then
    return words
  elseif opts.help then
    io.stdout:write(M.USAGE)
    return M.EXIT.ok
  end
  local name = table.remove(words, 1)
  local command = COMMANDS[name or ""]
  if not command then
    return usage_error(name and ("unknown command " .. name) or "no command given")
  elseif #words < command[2] or #words > command[3] then
    return usage_error("wrong number of arguments for " .. name)
  end
  local ctx = { pretty = opts.pretty, stderr_terminal = M.is_terminal(2) }
  if ctx.pretty == nil then
    ctx.pretty = M.is_terminal(1)
  end
  local s, status, keep = connect(getenv)
  if not s then
    return status
  end
  stdout_failed = nil
  local ok, result = pcall(command[1], s, words, ctx)
  local flushed, why = io.stdout:flush()
  if ok and result == M.EXIT.ok and (stdout_failed or not flushed) then
    result = fail(M.EXIT.files, "cannot write the standard output: " .. tostring(stdout_failed or why))
  end
  -- A login's token is revoked at the end, unless a token file keeps it.
  if keep then
    s:close()
  else
    s:logout()
  end
  if not ok then
    return fail(M.EXIT.portal, result)
  end
  return result
end

return M
