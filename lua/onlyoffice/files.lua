-- Files: uploads (one request, or an upload session in chunks), streamed
-- downloads, and walking paged listings. Installed as session methods.
local core = require "onlyoffice.core"
local args = require "onlyoffice.args"
local json = require "onlyoffice.json"
local request = require "onlyoffice.request"
local response = require "onlyoffice.response"

local M = {}

local CHUNK_SIZE = 10 * 1024 * 1024 -- what DocSpace's own clients send
local PAGE_SIZE = 100               -- DocSpace's largest page

local UPLOAD_OPTIONS = { name = "string", progress = "function", chunked = "boolean", chunk_size = "number" }
local DOWNLOAD_OPTIONS = { progress = "function" }
local PAGES_OPTIONS = { count = "number" }

local function check_options(opts, known, level)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    error("options must be a table, got " .. type(opts), level + 1)
  end
  local checked = args.known(opts, known, level + 1) -- not a tail call: keep the frame count
  return checked
end

local function check_id(id, what, level)
  if type(id) == "number" and id == math.floor(id) then
    return string.format("%d", id)
  elseif type(id) == "string" and id:match("^[%w@%-_]+$") then
    return id
  end
  error(what .. " must be an integer or an id string, got " .. tostring(id), level + 1)
end

-- Upload sources become { path=, size= } | { data=, size= } | { reader=, size= }, plus a name.
local function upload_source(src, opts, level)
  local name = opts.name
  local s
  if type(src) == "string" then
    local f, err = io.open(src, "rb")
    if not f then
      return nil, "cannot open " .. src .. ": " .. tostring(err)
    end
    s = { path = src, size = f:seek("end") }
    f:close()
    name = name or src:match("([^/]+)$")
  elseif type(src) == "table" and type(src.data) == "string" then
    s = { data = src.data, size = #src.data }
  elseif type(src) == "table" and type(src.reader) == "function" then
    if type(src.size) ~= "number" or src.size < 0 or src.size ~= math.floor(src.size) then
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

-- Progress that never goes backwards, even when a part is sent again after a re-login.
local function monotonic(progress)
  if not progress then
    return nil
  end
  local last = -1
  return function(done, total)
    if done > last then
      last = done
      progress(done, total)
    end
  end
end

-- Sends one multipart part; a reader cannot be replayed, so it gets no re-login retry.
local function send(s, target, part, name, progress, done, total)
  local function attempt()
    return core.send_part(s, target, part, "File", name, progress, done, total)
  end
  if part.reader then
    return attempt()
  end
  return request.with_relogin(s, attempt)
end

-- The entry an upload returns: DocSpace answers a list, Workspace one object.
local function single_upload(s, folder, src, progress)
  local target = "/api/2.0/files/" .. folder .. "/upload"
  local data, err, detail = request.finish(s, "POST", target, send(s, target, src, src.name, progress, 0, src.size))
  if data == nil then
    return nil, err, detail
  end
  if type(data) == "table" and data[1] ~= nil then
    data = data[1]
  end
  return data
end

-- Cuts a reader source into chunk strings of exactly n bytes (the last one shorter).
local function reader_chunks(reader)
  local pending = ""
  return function(n)
    local parts, have = { pending }, #pending
    while have < n do
      local piece = reader()
      if piece == nil then
        break
      end
      parts[#parts + 1] = piece
      have = have + #piece
    end
    local all = table.concat(parts)
    pending = all:sub(n + 1)
    return all:sub(1, n)
  end
end

local function chunk_part(src, take, offset, n)
  if src.path then
    return { path = src.path, offset = offset, size = n }
  elseif src.data then
    return { data = src.data:sub(offset + 1, offset + n) }
  end
  local data = take(n)
  if #data ~= n then
    error("upload source: the reader ended before size bytes", 0)
  end
  return { data = data }
end

-- A chunk reply is {success, data, message} outside the envelope, and a failure
-- can come back as HTTP 200 with success = false.
local function chunk_reply(s, target, index, status, body, ctype, retry_after)
  if not status then
    return response.network(s, body, ctype, "POST", target)
  end
  local reply = json.decode(body)
  if type(reply) == "table" and reply.success == false then
    local message = type(reply.message) == "string" and reply.message or "no message"
    return response.fail(s, "upload failed at chunk " .. index .. ": " .. message,
      { status = status, chunk = index, error = { message = message } })
  end
  if status < 200 or status > 299 then
    return response.http(s, "POST", target, status, body, ctype, retry_after)
  end
  if type(reply) ~= "table" then
    return response.fail(s, "upload failed at chunk " .. index .. ": the reply is not JSON",
      { status = status, chunk = index, body = body:sub(1, 512) })
  end
  return reply.data == nil and json.null or reply.data
end

local function upload_session(s, folder, src)
  local created, err, detail = request.exchange(s, "POST", "/api/2.0/files/" .. folder .. "/upload/create_session",
    json.encode({ fileName = src.name, fileSize = src.size }))
  if not created then
    return nil, err, detail
  end
  local data = type(created) == "table" and (created.data or created)
  local location = type(data) == "table" and data.location
  if created.success == false or type(location) ~= "string" then
    return response.fail(s, "the portal did not open an upload session", { body = json.encode(created) })
  end
  -- A portal behind a proxy can name its internal address here: the path is
  -- what counts, and the token only ever goes to the session's portal.
  local target = request.portal_target(s, location) or location:match("^%a+://[^/]+(/.*)$")
  if not target then
    return response.fail(s, "the upload session has an unusable location", { location = location })
  end
  return target
end

local function chunked_upload(s, folder, src, progress, chunk_size)
  local target, err, detail = upload_session(s, folder, src)
  if not target then
    return nil, err, detail
  end
  local take = src.reader and reader_chunks(src.reader)
  local offset, index, result = 0, 0
  repeat
    local n = math.min(chunk_size, src.size - offset)
    index = index + 1
    local part = chunk_part(src, take, offset, n)
    result, err, detail = chunk_reply(s, target, index,
      send(s, target, part, src.name, progress, offset, src.size))
    if result == nil then
      return nil, err, detail
    end
    offset = offset + n
  until offset >= src.size
  return result
end

--- s:upload(folder_id, source [, options]) -> file entry | nil, message, detail
local function upload(s, folder_id, source, opts)
  local folder = check_id(folder_id, "folder id", 2)
  opts = check_options(opts, UPLOAD_OPTIONS, 2)
  local src, err = upload_source(source, opts, 2)
  if not src then
    return response.fail(s, err, {})
  end
  local chunk_size = opts.chunk_size or CHUNK_SIZE
  if chunk_size < 1 then
    error("option \"chunk_size\" must be at least 1", 2)
  end
  local progress = monotonic(opts.progress)
  if opts.chunked or src.size > chunk_size then
    return chunked_upload(s, folder, src, progress, chunk_size)
  end
  return single_upload(s, folder, src, progress)
end

--- s:download(file_id, target [, options]) -> bytes | nil, message, detail
local function download(s, file_id, target, opts)
  local id = check_id(file_id, "file id", 2)
  if type(target) ~= "string" and type(target) ~= "function" then
    error("target must be a file path or a function, got " .. type(target), 2)
  end
  opts = check_options(opts, DOWNLOAD_OPTIONS, 2)
  local file, err, detail = request.exchange(s, "GET", "/api/2.0/files/file/" .. id)
  if not file then
    return nil, err, detail
  end
  local url = type(file) == "table" and file.viewUrl or ("/filehandler.ashx?action=download&fileid=" .. id)
  local from = request.portal_target(s, url)
  if not from then
    return response.fail(s, "the file's download URL is outside the portal: " .. url, { location = url })
  end
  local progress = monotonic(opts.progress)
  local status, body, ctype, retry_after, _, bytes = request.with_relogin(s, function()
    return core.download(s, from, target, progress)
  end)
  local _, ferr, fdetail = request.failed(s, "GET", from, status, body, ctype, retry_after)
  if ferr then
    return nil, ferr, fdetail
  end
  return bytes
end

-- The entries of one listing page: DocSpace/Workspace folder content (folders,
-- then files), or a plain array (people, rooms, ...).
local function page_items(data)
  if type(data) ~= "table" then
    return nil
  end
  if data.files or data.folders then
    local items = {}
    for _, list in ipairs({ data.folders or {}, data.files or {} }) do
      for _, item in ipairs(list) do
        items[#items + 1] = item
      end
    end
    return items
  end
  return data
end

--- for item, index in s:pages(path [, query [, options]]) do ... end
--- Raises the failure message if a page cannot be fetched.
local function pages(s, path, query, opts)
  args.target(path, query, 2)
  opts = check_options(opts, PAGES_OPTIONS, 2)
  local q = {}
  for k, v in pairs(query or {}) do
    q[k] = v
  end
  q.count = opts.count or q.count or PAGE_SIZE
  local start = tonumber(q.startIndex) or 0
  local page, pos, index, finished = {}, 0, 0, false
  return function()
    while pos >= #page do
      if finished then
        return nil
      end
      q.startIndex = start
      local data, info = s:get(path, q)
      if data == nil then
        error(info, 2)
      end
      page, pos = page_items(data), 0
      if not page then
        error("not a listing: " .. path, 2)
      end
      local total = type(data) == "table" and tonumber(data.total) or info.total
      start = info.nextIndex or (start + #page)
      finished = #page == 0 or (total ~= nil and start >= total) or (total == nil and #page < q.count)
    end
    pos, index = pos + 1, index + 1
    return page[pos], index
  end
end

function M.install(methods)
  methods.upload = upload
  methods.download = download
  methods.pages = pages
end

return M
