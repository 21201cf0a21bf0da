-- s:operation(kind, body [, options]) and s:bulk_download(items, target [, options]):
-- the portal's asynchronous file operations (PUT files/fileops/<kind>), started,
-- then polled with back-off until they finish, fail or run out of time.
local args = require "onlyoffice.args"
local json = require "onlyoffice.json"
local response = require "onlyoffice.response"
local upload = require "onlyoffice.upload"
local clock = require("onlyoffice.core").clock
local check_id = upload.check_id

local M = {}

local BASE = "/api/2.0/files/fileops"
-- Five minutes: archiving or copying a large tree on a busy portal takes
-- minutes, and a portal whose task queue is stuck should not hold a script
-- forever. Polls at most every 2 s stay far under the 1500 GETs a minute.
local DEFAULT_TIMEOUT = 300
local FIRST_WAIT, LONGEST_WAIT = 0.1, 2

local OPTIONS = { timeout = "number", progress = "function" }
local BULK_OPTIONS = { timeout = "number", progress = "function", transfer_progress = "function",
  transfer_timeout = "number", durable = "boolean" }

-- FileOperationType and DistributedTaskStatus, as op.type and op.state.
local TYPES = { [0] = "move", "copy", "delete", "download", "markasread", "import", "convert", "duplicate" }
local STATES = { [0] = "created", "running", "completed", "canceled", "failed" }
M.TYPES, M.STATES = TYPES, STATES

-- Sessions whose portal is known to honour returnSingleOperation (3.2.1 and
-- later): those start without listing the user's operations first.
local single = setmetatable({}, { __mode = "k" })

local function escape(text)
  return (text:gsub("[^A-Za-z0-9%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

-- The operations in an answer (a list of FileOperationDto), ignoring anything else.
local function listed(data)
  local ops = {}
  if type(data) == "table" then
    for _, op in ipairs(data) do
      if type(op) == "table" and op.id ~= nil then
        ops[#ops + 1] = op
      end
    end
  end
  return ops
end

-- Adds op.operation (DocSpace spells it "Operation"), op.type and op.state.
local function readable(op)
  local number
  for k, v in pairs(op) do
    if type(k) == "string" and k:lower() == "operation" then
      number = v
    end
  end
  op.operation = number
  op.type = TYPES[number]
  op.state = STATES[op.status]
  return op
end

-- Ours among the answer's operations: the only one, else the last one the
-- listing taken before the start did not hold.
local function pick(ops, seen)
  if #ops == 1 then
    return ops[1]
  end
  local new
  for _, op in ipairs(ops) do
    if not (seen and seen[tostring(op.id)]) then
      new = op
    end
  end
  return new
end

-- What the start's answer says about the portal: `status` exists from 3.7.1;
-- one operation while others were listed means returnSingleOperation worked.
local function learn(s, ops, seen)
  for _, op in ipairs(ops) do
    if op.status ~= nil then
      single[s] = true
      return
    end
  end
  if #ops == 1 and seen and next(seen) then
    single[s] = true
  elseif #ops > 1 then
    single[s] = nil
  end
end

local function body_text(kind, body, level)
  if body ~= nil and type(body) ~= "table" then
    error("body must be a table, got " .. type(body), level + 1)
  end
  local copy = {}
  for k, v in pairs(body or {}) do
    copy[k] = v
  end
  copy.returnSingleOperation = true
  local target = BASE .. "/" .. kind .. (kind == "emptytrash" and "?single=true" or "")
  return target, args.body(copy, level + 1)
end

local function check_kind(kind, level)
  if type(kind) ~= "string" or not kind:match("^[A-Za-z]+$") then
    error("operation kind must be a plain word such as \"copy\", got " .. tostring(kind), level + 1)
  elseif kind:lower() == "terminate" then
    error("\"terminate\" stops operations; it starts none", level + 1)
  end
  return kind
end

local function check_timeout(opts, level)
  if opts.timeout ~= nil then
    args.ranges({ timeout = opts.timeout }, level + 1)
  end
end

function M.install(methods, P)
  local function clean_op(s, op)
    return response.clean_all(op, P.cleaner(s))
  end

  local function snapshot(s)
    local data, err, detail = P.api(s, { method = "GET", target = BASE })
    if data == nil then
      return nil, err, detail
    end
    local seen = {}
    for _, op in ipairs(listed(data)) do
      seen[tostring(op.id)] = true
    end
    return seen
  end

  local function terminate(s, id)
    P.api(s, { method = "PUT", target = BASE .. "/terminate/" .. escape(id) })
  end

  local function poll(s, id)
    local target = BASE .. "?id=" .. escape(id)
    local data, err, detail = P.api(s, { method = "GET", target = target })
    if data == nil then
      return nil, err, detail
    end
    for _, op in ipairs(listed(data)) do -- before 3.2.1 the list holds them all
      if tostring(op.id) == id then
        return op
      end
    end
    return nil, "GET " .. target .. ": the portal no longer lists the operation",
      { kind = "operation", method = "GET", path = target }
  end

  -- progress(percent, op) on every change; a callback that raises has the
  -- operation terminated, then its error raised by the call as it is.
  local function reporter(s, id, progress)
    local last
    return function(op)
      local percent = tonumber(op.progress) or 0
      if not progress or percent == last then
        return
      end
      last = percent
      local ok, e = pcall(progress, percent, op)
      if not ok then
        terminate(s, id)
        error(e, 0)
      end
    end
  end

  local function failed(s, target, op)
    local clean = P.cleaner(s)
    local text = type(op.error) == "string" and op.error ~= "" and clean(op.error) or nil
    local how = op.state == "canceled" and " was canceled" or " failed"
    return nil, "operation " .. (op.type or "") .. how .. (text and (": " .. text) or ""),
      { kind = "operation", method = "PUT", path = target, operation = clean_op(s, op), error = text }
  end

  local function timed_out(s, target, op, timeout)
    terminate(s, tostring(op.id))
    return nil, ("operation did not finish within %s s; terminated"):format(args.number_text(timeout)),
      { kind = "timeout", timeout = true, method = "PUT", path = target, operation = clean_op(s, op) }
  end

  local function start(s, target, text)
    local seen, err, detail
    if not single[s] then
      seen, err, detail = snapshot(s)
      if not seen then
        return nil, err, detail
      end
    end
    local data
    data, err, detail = P.api(s, { method = "PUT", target = target, body = text })
    if data == nil then
      return nil, err, detail
    end
    local ops = listed(data)
    learn(s, ops, seen)
    local op = pick(ops, seen)
    if not op then
      return nil, "PUT " .. target .. ": the answer names no new operation",
        { kind = "operation", method = "PUT", path = target }
    end
    return op
  end

  --- Inside a public call: starts the operation and polls it to its end.
  function P.operation(s, target, text, opts)
    local timeout = opts.timeout or DEFAULT_TIMEOUT
    local deadline = clock() + timeout
    local op, err, detail = start(s, target, text)
    if not op then
      return nil, err, detail
    end
    local id = tostring(op.id)
    local report, wait = reporter(s, id, opts.progress), FIRST_WAIT
    while true do
      readable(op)
      report(op)
      -- 3.7.1's status also tells an operation that someone else canceled (or
      -- that failed) with an empty error: that is no success either.
      if (type(op.error) == "string" and op.error ~= "") or op.state == "canceled" or op.state == "failed" then
        return failed(s, target, op)
      elseif op.finished == true then
        return op
      end
      local left = deadline - clock()
      if left <= 0 then
        return timed_out(s, target, op, timeout)
      end
      P.sleep(s, math.min(wait, left))
      wait = math.min(wait * 2, LONGEST_WAIT)
      local nxt
      nxt, err, detail = poll(s, id)
      if not nxt then
        detail.operation = clean_op(s, op)
        return nil, err, detail
      end
      op = nxt
    end
  end

  --- s:operation(kind, body [, options]) -> the finished operation | nil, message, detail
  function methods.operation(s, kind, body, opts)
    check_kind(kind, 2)
    local target, text = body_text(kind, body, 2)
    opts = args.call_options(opts, OPTIONS, 2)
    check_timeout(opts, 2)
    local op, err, detail = P.call(s, P.operation, target, text, opts)
    return op, err, detail -- not a tail call: P.call counts this frame
  end

  local function id_list(list, name, level)
    if list == nil then
      return json.array {}
    elseif type(list) ~= "table" then
      error(("items.%s must be a list of ids, got %s"):format(name, type(list)), level + 1)
    end
    local n, out = 0, json.array {}
    for _ in pairs(list) do
      n = n + 1
    end
    if n ~= #list then
      error(("items.%s must be a list of ids"):format(name), level + 1)
    end
    for i, id in ipairs(list) do
      check_id(id, "items." .. name .. "[" .. i .. "]", level + 1)
      out[i] = id
    end
    return out
  end

  local function convert_list(map, level)
    local out = json.array {}
    if map == nil then
      return out
    elseif type(map) ~= "table" then
      error("items.convert must be a table of file id -> extension, got " .. type(map), level + 1)
    end
    for id, ext in pairs(map) do
      check_id(id, "an items.convert key", level + 1)
      if type(ext) ~= "string" or not ext:match("^%.[A-Za-z0-9]+$") then
        error("items.convert[" .. tostring(id) .. "] must be an extension such as \".pdf\"", level + 1)
      end
      out[#out + 1] = { key = id, value = ext }
    end
    table.sort(out, function(a, b) return tostring(a.key) < tostring(b.key) end)
    return out
  end

  local ITEMS = { files = true, folders = true, convert = true }

  local function bulk_body(items, level)
    if type(items) ~= "table" then
      error("items must be a table { files =, folders =, convert = }, got " .. type(items), level + 1)
    end
    for k in pairs(items) do
      if not ITEMS[k] then
        error("unknown items field " .. tostring(k) .. " (files, folders, convert)", level + 1)
      end
    end
    local body = { fileIds = id_list(items.files, "files", level + 1),
      folderIds = id_list(items.folders, "folders", level + 1),
      fileConvertIds = convert_list(items.convert, level + 1) }
    if #body.fileIds + #body.folderIds + #body.fileConvertIds == 0 then
      error("items name no file and no folder", level + 1)
    end
    return body
  end

  -- The sink hears of a failure before the transfer (ltn12: nil, message).
  local function told(target, bytes, err, detail)
    if bytes == nil and type(target) == "function" then
      target(nil, err)
    end
    return bytes, err, detail
  end

  local function bulk(s, target_path, text, target, opts)
    local op, err, detail = P.operation(s, target_path, text, opts)
    if not op then
      return told(target, nil, err, detail)
    end
    if type(op.url) ~= "string" or op.url == "" then
      return told(target, nil, "the finished download names no archive URL",
        { kind = "operation", operation = clean_op(s, op) })
    end
    return P.stream(s, op.url, target, { progress = opts.transfer_progress, durable = opts.durable,
      timeout = opts.transfer_timeout })
  end

  --- s:bulk_download(items, target [, options]) -> bytes | nil, message, detail
  function methods.bulk_download(s, items, target, opts)
    local target_path, text = body_text("bulkdownload", bulk_body(items, 2), 2)
    if type(target) ~= "string" and type(target) ~= "function" then
      error("target must be a file path or a function, got " .. type(target), 2)
    end
    opts = args.call_options(opts, BULK_OPTIONS, 2)
    check_timeout(opts, 2)
    local t = opts.transfer_timeout
    if t ~= nil and not (t >= 0.001 and t <= 31536000) then
      error("option \"transfer_timeout\" must be a number from 0.001 to 31536000 seconds", 2)
    end
    local bytes, err, detail = P.call(s, bulk, target_path, text, target, opts)
    return bytes, err, detail -- not a tail call: P.call counts this frame
  end
end

return M
