-- s:upload(folder, source [, options]): one multipart request, or an upload
-- session in chunks above chunk_size (flow.lua picks the session API of
-- DocSpace 3.7.1+ or the legacy one). Each part is a request of the pipeline.
local args = require "onlyoffice.args"
local json = require "onlyoffice.json"
local flow = require "onlyoffice.flow"
local file_size = require("onlyoffice.core").file_size

local M = {}

local CHUNK_SIZE = 10 * 1024 * 1024 -- what DocSpace's own clients send, and the most its server takes
local OPTIONS = { name = "string", progress = "function", chunked = "boolean", chunk_size = "number",
  flow = "string" }

local function check_id(id, what, level)
  if type(id) == "number" and id == math.floor(id) and id > -2 ^ 63 and id < 2 ^ 63 then
    return args.number_text(id)
  elseif type(id) == "string" and id:match("^[A-Za-z0-9@%-_]+$") then
    return id
  end
  error(what .. " must be an integer or an id string, got " .. tostring(id), level + 1)
end
M.check_id = check_id

--- After size bytes: nil when the reader then ends as it must, or why not.
function M.reader_ended(reader, pending)
  if pending ~= nil and pending ~= "" then
    return "the reader gave more than size bytes"
  end
  local piece, err
  repeat -- ltn12 sources may return empty strings before their end
    piece, err = reader()
  until piece ~= ""
  if piece ~= nil then
    return "the reader gave more than size bytes"
  elseif err ~= nil then
    return tostring(err)
  end
end

local function source_failure(message)
  return nil, "upload source: " .. message, { kind = "source" }
end

-- Sources become { path=, size=, file_size= } | { data=, size= } | { reader=, size= }, plus a name.
local function upload_source(src, opts, level)
  local name, s = opts.name, nil
  if type(src) == "string" then
    local size, err = file_size(src)
    if not size then
      return nil, err
    end
    s = { path = src, size = size, file_size = size }
    name = name or src:match("([^/]+)$")
  elseif type(src) == "table" and type(src.data) == "string" then
    s = { data = src.data, size = #src.data }
  elseif type(src) == "table" and type(src.reader) == "function" then
    if type(src.size) ~= "number" or src.size < 0 or src.size ~= math.floor(src.size) or src.size >= 2 ^ 53 then
      error("a reader source needs size, a whole number of bytes", level + 1)
    end
    s = { reader = src.reader, size = src.size }
  else
    error("source must be a file path, { data = string } or { reader = function, size = n }", level + 1)
  end
  if type(name) ~= "string" or name == "" or name:find("[%z\r\n\"]") then
    error("options.name must be a file name (required for data and reader sources)", level + 1)
  end
  s.name = name
  return s
end

-- Progress that never goes backwards (a part sent again after a re-login
-- starts over), and a second function that ends it with done == total.
function M.monotonic(progress)
  if not progress then
    return nil
  end
  local last, last_total = -1, nil
  return function(done, total)
    if done > last then
      last, last_total = done, total
      progress(done, total)
    end
  end, function(total)
    if last ~= total or last_total ~= total then
      last, last_total = total, total
      progress(total, total)
    end
  end
end

function M.install(methods, P)
  local function part_request(target, part, name, progress, done, total, shown)
    return { method = "POST", target = target, part = part, field = "File", filename = name,
      progress = progress, done = done, total = total, shown = shown }
  end

  -- The entry an upload returns: DocSpace answers a list, Workspace one object.
  local function single_upload(s, folder, src, progress)
    local req = part_request("/api/2.0/files/" .. folder .. "/upload", src, src.name, progress, 0, src.size)
    local final, sent = P.one(s, req)
    local data, err, detail = P.shape(s, sent, final)
    if data == nil then
      return nil, err, detail
    end
    if type(data) == "table" and data[1] ~= nil then
      data = data[1]
    end
    return data
  end

  -- Cuts a reader (an ltn12 source) into chunk strings of exactly n bytes.
  local function reader_chunks(reader)
    local pending = ""
    return function(n)
      local parts, have = { pending }, #pending
      while have < n do
        local piece, err = reader()
        if piece == nil then
          if err ~= nil then
            return nil, tostring(err)
          end
          break
        elseif type(piece) ~= "string" then
          return nil, "the reader must return strings, then nil at the end"
        end
        parts[#parts + 1] = piece
        have = have + #piece
      end
      local all = table.concat(parts)
      pending = all:sub(n + 1)
      if #all < n then
        return nil, "the reader ended before size bytes"
      end
      return all:sub(1, n)
    end, function()
      return M.reader_ended(reader, pending)
    end
  end

  local function chunk_part(src, take, offset, n)
    if src.path then
      return { path = src.path, offset = offset, size = n, file_size = src.file_size }
    elseif src.data then
      return { data = src.data:sub(offset + 1, offset + n) }
    end
    local data, err = take(n)
    if not data then
      return nil, err
    end
    return { data = data }
  end

  -- A chunk reply is {success, data, message} outside the envelope, and a
  -- failure can come back as HTTP 200 with success = false.
  local function chunk_reply(s, req, final, index)
    if final.status then
      local reply = json.decode(final.body)
      if type(reply) == "table" and reply.success == false then
        local message = type(reply.message) == "string" and P.cleaner(s)(reply.message) or "no message"
        return nil, "upload failed at chunk " .. index .. ": " .. message,
          { kind = "http", status = final.status, chunk = index, error = { message = message }, method = "POST",
            path = req.shown or req.target }
      end
      if final.status >= 200 and final.status <= 299 then
        if type(reply) ~= "table" then
          return nil, "upload failed at chunk " .. index .. ": the reply is not JSON",
            { kind = "json", status = final.status, chunk = index, method = "POST", path = req.shown or req.target }
        end
        return reply.data == nil and json.null or reply.data
      end
    end
    local _, message, detail = P.failure(s, req, final)
    detail.chunk = index
    return nil, message, detail
  end

  local function upload_session(s, folder, src)
    local created, err, detail = P.api(s, { method = "POST",
      target = "/api/2.0/files/" .. folder .. "/upload/create_session",
      body = json.encode({ fileName = src.name, fileSize = src.size }) })
    if created == nil then
      return nil, err, detail
    end
    local data = type(created) == "table" and (type(created.data) == "table" and created.data or created)
    local location = type(data) == "table" and data.location
    if type(location) ~= "string" or (type(created) == "table" and created.success == false) then
      return nil, "the portal did not open an upload session", { kind = "http" }
    end
    local target = P.on_portal(s, location)
    if not target then
      return nil, "the upload session has an unusable location", { kind = "http" }
    end
    return target
  end

  -- Sends src in chunk_size parts, each to target_of(index) (and its shown
  -- form), each answer read by reply(s, req, final, index): the last answer.
  local function send_chunks(s, src, progress, chunk_size, target_of, reply)
    local take, ended
    if src.reader then
      take, ended = reader_chunks(src.reader)
    end
    local offset, index, result, err, detail = 0, 0
    repeat
      local n = math.min(chunk_size, src.size - offset)
      index = index + 1
      local part, perr = chunk_part(src, take, offset, n)
      if part and ended and offset + n >= src.size then
        perr = ended() -- before the last chunk goes: the portal would keep the file
        part = not perr and part
      end
      if not part then
        return source_failure(perr)
      end
      local target, shown = target_of(index)
      local req = part_request(target, part, src.name, progress, offset, src.size, shown)
      local final, sent = P.one(s, req)
      result, err, detail = reply(s, sent, final, index)
      if result == nil then
        return nil, err, detail
      end
      offset = offset + n
    until offset >= src.size
    return result
  end

  local function legacy_upload(s, folder, src, progress, chunk_size)
    local target, err, detail = upload_session(s, folder, src)
    if not target then
      return nil, err, detail
    end
    -- The portal named this path: it is shown redacted, like a redirect's.
    local shown = P.cleaner(s)(target) or "(the upload session)"
    return send_chunks(s, src, progress, chunk_size, function()
      return target, shown
    end, chunk_reply)
  end

  local flows = flow.install(P, send_chunks)

  local function run(s, folder, src, opts, chunk_size)
    local progress, last = M.monotonic(opts.progress)
    local result, err, detail
    if src.reader and src.size == 0 and not opts.chunked and P.is_open(s) then -- libcurl would never ask it
      err = M.reader_ended(src.reader)
      if err then
        return source_failure(err)
      end
    end
    if opts.flow or opts.chunked or src.size > chunk_size then
      local chunked = (opts.flow or flows.detect(s)) == "session" and flows.upload or legacy_upload
      result, err, detail = chunked(s, folder, src, progress, chunk_size)
    else
      result, err, detail = single_upload(s, folder, src, progress)
    end
    if result ~= nil and last then
      last(src.size)
    end
    if result == nil and detail and detail.kind == "source" and not err:find("^upload source: ") then
      err = "upload source: " .. err
    end
    return result, err, detail
  end

  --- s:upload(folder_id, source [, options]) -> file entry | nil, message, detail
  function methods.upload(s, folder_id, source, opts)
    local folder = check_id(folder_id, "folder id", 2)
    opts = args.call_options(opts, OPTIONS, 2)
    local chunk_size = opts.chunk_size or CHUNK_SIZE
    if chunk_size < 1 or chunk_size ~= math.floor(chunk_size) or chunk_size > CHUNK_SIZE then
      error("option \"chunk_size\" must be a whole number of bytes from 1 to " .. CHUNK_SIZE
        .. " (the portal's limit)", 2)
    end
    if opts.flow ~= nil and not flow.FLOWS[opts.flow] then
      error("option \"flow\" must be \"session\" or \"legacy\", got \"" .. opts.flow .. "\"", 2)
    end
    local src, err = upload_source(source, opts, 2)
    if not src then
      return source_failure(err)
    end
    local entry, ferr, detail = P.call(s, run, folder, src, opts, chunk_size)
    return entry, ferr, detail -- not a tail call: P.call counts this frame
  end
end

return M
