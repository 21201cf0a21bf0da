-- The portal's asynchronous file operations (/api/2.0/files/fileops/*), as
-- ../shared/reference/portal-api-docspace3.md section 4 describes them:
-- answers are lists of FileOperationDto ("Operation" with a capital O on
-- DocSpace, "operation" on Workspace; "status" on DocSpace only); DocSpace
-- honours returnSingleOperation and ?id=, Workspace lists every operation of
-- the user. An operation advances one step per poll and finishes after
-- `steps` polls (3 unless /__emu/fileops_mode says otherwise). Copy, move and
-- delete act on the emulator's files when they start; bulk downloads write a
-- stored zip that only their user may fetch.
local M = {}

local TYPES = { move = 0, copy = 1, delete = 2, bulkdownload = 3, markasread = 4, duplicate = 7, emptytrash = 2 }
local FIRST_FOLDER, LAST_FOLDER = 2001, 2007 -- "My documents"' generated folders
local FIRST_LISTED, LAST_LISTED = 100001, 100230 -- its generated files
local NEW_FOLDERS = 7001 -- portal.lua numbers created folders above this

local function load(lib, key, default)
  local v = lib.dict:get(key)
  return v and lib.cjson.decode(v) or default
end

local function store(lib, key, v)
  lib.dict:set(key, lib.cjson.encode(v))
end

local function list_key(lib, login)
  return "fo:list:" .. lib.flavor() .. ":" .. login
end

local function folder_exists(lib, id)
  id = tonumber(id)
  return id ~= nil and (id == lib.MY_FOLDER or (id >= FIRST_FOLDER and id <= LAST_FOLDER)
    or (id > NEW_FOLDERS and id <= (lib.dict:get("next_folder") or 0)))
end

-- A file's metadata, also for the generated entries of "My documents".
local function meta_of(lib, id)
  id = tonumber(id)
  if not id then
    return nil
  end
  local meta = lib.stored_meta(id)
  if meta or id < FIRST_LISTED or id > LAST_LISTED then
    return meta
  end
  return { title = ("Document %d.docx"):format(id - FIRST_LISTED + 1), size = 12800 + id % 1000,
    folderId = lib.MY_FOLDER }
end

local function content_of(lib, id)
  return lib.read_file(lib.files_dir() .. id)
end

-- A copy of file id in folder dest: content and all when the emulator holds it.
local function copy_file(lib, id, meta, dest)
  local data = content_of(lib, id)
  if data then
    local tmp = lib.files_dir() .. "fo-copy-" .. lib.dict:incr("next_tmp", 1, 0)
    lib.write_file(tmp, data)
    local nid, nmeta = lib.save_file(meta.title, dest, tmp, #data)
    return lib.file_entry(nid, nmeta)
  end
  local nid = lib.dict:incr("next_file", 1, 300000)
  local nmeta = { title = meta.title, size = meta.size, folderId = dest }
  store(lib, "file:" .. nid, nmeta)
  return lib.file_entry(nid, nmeta)
end

local function stored_in(lib, folder)
  local ids = {}
  for _, key in ipairs(lib.dict:get_keys(0)) do
    local id = key:match("^file:(%d+)$")
    if id and load(lib, key, {}).folderId == folder then
      ids[#ids + 1] = tonumber(id)
    end
  end
  table.sort(ids)
  return ids
end

local ACT = {}

function ACT.copy(lib, f, rec)
  local files, folders = {}, {}
  for _, id in ipairs(f.folderids or {}) do
    local nid = lib.dict:incr("next_folder", 1, NEW_FOLDERS)
    for _, inner in ipairs(stored_in(lib, tonumber(id))) do
      copy_file(lib, inner, meta_of(lib, inner), nid)
    end
    local entry = lib.folder_entry(nid)
    entry.title, entry.parentId = "Copy of folder " .. tostring(id), tonumber(f.destfolderid)
    folders[#folders + 1] = entry
  end
  for _, id in ipairs(f.fileids or {}) do
    local meta = meta_of(lib, id)
    if not meta then
      rec.fail = "The file was not found"
      return
    end
    files[#files + 1] = copy_file(lib, id, meta, tonumber(f.destfolderid))
  end
  rec.files, rec.folders = files, folders
end
ACT.duplicate = ACT.copy

function ACT.move(lib, f, rec)
  local files = {}
  for _, id in ipairs(f.fileids or {}) do
    local meta = meta_of(lib, id)
    if not meta then
      rec.fail = "The file was not found"
      return
    end
    meta.folderId = tonumber(f.destfolderid)
    store(lib, "file:" .. id, meta)
    files[#files + 1] = lib.file_entry(tonumber(id), meta)
  end
  rec.files, rec.folders = files, {}
end

function ACT.delete(lib, f, rec)
  for _, id in ipairs(f.fileids or {}) do
    lib.dict:delete("file:" .. id)
    os.remove(lib.files_dir() .. id)
  end
  rec.files, rec.folders = {}, {}
end

---------------------------------------------------------------------------
-- Bulk downloads: a zip of stored entries (method 0), written by hand
---------------------------------------------------------------------------

local function le(n, bytes)
  local out = {}
  for i = 1, bytes do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

local DOS_TIME, DOS_DATE = 0, ((2026 - 1980) * 512) + 11 * 32 + 1 -- 2026-11-01 00:00, for stable bytes

local function zip(entries)
  local parts, central, offset = {}, {}, 0
  for _, e in ipairs(entries) do
    local crc, size = ngx.crc32_long(e.data), #e.data
    local common = le(20, 2) .. le(0x0800, 2) .. le(0, 2) .. le(DOS_TIME, 2) .. le(DOS_DATE, 2)
      .. le(crc, 4) .. le(size, 4) .. le(size, 4) .. le(#e.name, 2)
    local head = le(0x04034b50, 4) .. common .. le(0, 2) .. e.name
    parts[#parts + 1] = head .. e.data
    central[#central + 1] = le(0x02014b50, 4) .. le(20, 2) .. common .. le(0, 2) .. le(0, 2) .. le(0, 2)
      .. le(0, 2) .. le(0, 4) .. le(offset, 4) .. e.name
    offset = offset + #head + size
  end
  local dir = table.concat(central)
  return table.concat(parts) .. dir .. le(0x06054b50, 4) .. le(0, 2) .. le(0, 2) .. le(#entries, 2)
    .. le(#entries, 2) .. le(#dir, 4) .. le(offset, 4) .. le(0, 2)
end

local function add_file(lib, entries, id, prefix, ext)
  local meta = meta_of(lib, id)
  if not meta then
    return false
  end
  local name = meta.title
  if ext then
    name = (name:gsub("%.[^.]*$", "")) .. ext
  end
  entries[#entries + 1] = { name = prefix .. name, data = content_of(lib, id) or "" }
  return true
end

local function handler_path(lib)
  if lib.flavor() == "docspace" then
    return ngx.var.scheme .. "://" .. ngx.var.http_host .. "/filehandler.ashx"
  end
  return "/Products/Files/HttpHandlers/filehandler.ashx"
end

function ACT.bulkdownload(lib, f, rec, login)
  local entries = {}
  for _, id in ipairs(f.fileids or {}) do
    if not add_file(lib, entries, id, "") then
      rec.fail = "The file was not found"
      return
    end
  end
  for _, pair in ipairs(f.fileconvertids or {}) do
    if type(pair) ~= "table" or not add_file(lib, entries, pair.key, "", pair.value) then
      rec.fail = "The file was not found"
      return
    end
  end
  for _, id in ipairs(f.folderids or {}) do
    if not folder_exists(lib, id) then
      rec.fail = "The folder was not found"
      return
    end
    entries[#entries + 1] = { name = "folder-" .. id .. "/", data = "" }
    for _, inner in ipairs(stored_in(lib, tonumber(id))) do
      add_file(lib, entries, inner, "folder-" .. id .. "/")
    end
  end
  local name = ngx.md5(rec.id .. ngx.now() .. math.random())
  lib.write_file(lib.files_dir() .. "bulk-" .. name, zip(entries))
  lib.dict:set("fo:bulk:" .. name, login)
  rec.url = handler_path(lib) .. "?action=bulk&filename=" .. name
  rec.files, rec.folders = {}, {}
end

function ACT.markasread(_, _, rec)
  rec.files, rec.folders = {}, {}
end
ACT.emptytrash = ACT.markasread

---------------------------------------------------------------------------
-- Operations
---------------------------------------------------------------------------

local function new_id(lib)
  local h = ngx.md5("fo" .. lib.dict:incr("fo:n", 1, 0) .. ngx.now())
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-" .. h:sub(13, 16) .. "-" .. h:sub(17, 20) .. "-" .. h:sub(21, 32)
end

-- What the portal shows of a record, after `polls` polls.
local function dto(lib, rec)
  local progress, finished, status
  status = rec.polls > 0 and 1 or 0
  if rec.terminated then
    progress, finished, status = rec.progress or 0, true, 3
  elseif rec.fail and rec.polls > 0 then
    progress, finished, status = 100, true, 4
  elseif rec.slow then
    progress, finished = math.min(90, rec.polls * 5), false
  else
    progress = math.floor(math.min(rec.polls, rec.steps) * 100 / rec.steps)
    finished = rec.polls >= rec.steps
    status = finished and 2 or status
  end
  rec.progress = progress
  local d = { id = rec.id, progress = progress, error = (finished and rec.fail) or "", processed = tostring(progress),
    finished = finished, files = finished and rec.files or {}, folders = finished and rec.folders or {} }
  d[lib.flavor() == "docspace" and "Operation" or "operation"] = rec.type
  if finished and rec.url and not rec.fail then
    d.url = rec.url
  end
  if lib.flavor() == "docspace" then
    d.status = status
  end
  return d
end

local function record(lib, id)
  return load(lib, "fo:op:" .. id)
end

-- The dtos of ids, each advanced by a poll when `advance`. Workspace's order
-- is its task store's, not the order of creation: newest first here, so that
-- a client taking the last one gets someone else's.
local function show(lib, ids, advance)
  local out = {}
  local from, to, step = 1, #ids, 1
  if lib.flavor() == "workspace" then
    from, to, step = #ids, 1, -1
  end
  for i = from, to, step do
    local id = ids[i]
    local rec = record(lib, id)
    if rec then
      if advance and not rec.terminated then
        rec.polls = rec.polls + 1
        lib.dict:incr("fo:polls", 1, 0)
      end
      out[#out + 1] = dto(lib, rec)
      store(lib, "fo:op:" .. id, rec)
    end
  end
  return out -- an empty list goes out as {}, as the emulator's cjson writes it
end

local function start(lib, kind, login)
  local f = lib.body_fields() or {}
  local mode = load(lib, "fo:mode", {})
  local rec = { id = new_id(lib), kind = kind, type = TYPES[kind], owner = login, polls = 0,
    steps = mode.steps or 3, slow = mode.slow }
  if (kind == "copy" or kind == "move" or kind == "duplicate") and not folder_exists(lib, f.destfolderid) then
    rec.fail = "The folder was not found"
  else
    ACT[kind](lib, f, rec, login)
  end
  store(lib, "fo:op:" .. rec.id, rec)
  local ids = load(lib, list_key(lib, login), {})
  ids[#ids + 1] = rec.id
  store(lib, list_key(lib, login), ids)
  if lib.flavor() == "docspace" and (f.returnsingleoperation == true or ngx.var.arg_single == "true") then
    return lib.ok(show(lib, { rec.id }, false))
  end
  return lib.ok(show(lib, ids, false))
end

-- The next `fail` polls (?id=) answer `status`, for the retry specs.
local function injected_failure(lib)
  if not ngx.var.arg_id or (lib.dict:get("fo:fail") or 0) <= 0 then
    return false
  end
  lib.dict:incr("fo:fail", -1)
  lib.send(lib.dict:get("fo:fail_status") or 503, "", nil)
  return true
end

local function poll(lib, login)
  if injected_failure(lib) then
    return
  end
  local ids = load(lib, list_key(lib, login), {})
  local id = ngx.var.arg_id
  if id and lib.flavor() == "docspace" then
    local own = false
    for _, mine in ipairs(ids) do
      own = own or mine == id
    end
    return lib.ok(show(lib, own and { id } or {}, true))
  end
  return lib.ok(show(lib, ids, true))
end

local function terminate(lib, login, id)
  local ids = load(lib, list_key(lib, login), {})
  local done = load(lib, "fo:terminated", {})
  for _, mine in ipairs(ids) do
    if id == nil or mine == id then
      local rec = record(lib, mine)
      rec.terminated = true
      store(lib, "fo:op:" .. mine, rec)
      done[#done + 1] = mine
    end
  end
  store(lib, "fo:terminated", done)
  return lib.ok(show(lib, (id and lib.flavor() == "docspace") and { id } or ids, false))
end

local function serve_bulk(lib)
  local login = lib.authorized()
  local name = ngx.var.arg_filename or ""
  if not name:match("^%x+$") or lib.dict:get("fo:bulk:" .. name) ~= login then
    return lib.err(404, "The required file was not found")
  end
  return ngx.exec("/__files/bulk-" .. name)
end

function M.route(lib, method, uri, rest)
  if (uri == "/filehandler.ashx" or uri == "/Products/Files/HttpHandlers/filehandler.ashx")
    and ngx.var.arg_action == "bulk" then
    return serve_bulk(lib)
  end
  if not rest or rest:sub(1, 13) ~= "files/fileops" then
    return nil
  end
  if rest == "files/fileops" and method == "GET" then
    return poll(lib, (lib.authorized()))
  end
  local id = rest:match("^files/fileops/terminate/([%w%-]+)$")
  if (id or rest == "files/fileops/terminate") and method == "PUT" then
    return terminate(lib, (lib.authorized()), id)
  end
  local kind = rest:match("^files/fileops/(%a+)$")
  if kind and TYPES[kind] and method == "PUT" then
    return start(lib, kind, (lib.authorized()))
  end
end

---------------------------------------------------------------------------
-- Control routes
---------------------------------------------------------------------------

--- Installs the control routes fileops_mode and fileops.
function M.install(lib)
  -- Operations started later: ?steps=N polls to finish, ?slow=1 never
  -- finishes; ?fail=N&status=S: the next N polls answer S.
  function lib.CONTROL.fileops_mode()
    store(lib, "fo:mode", { steps = tonumber(ngx.var.arg_steps), slow = ngx.var.arg_slow == "1" or nil })
    lib.dict:set("fo:fail", tonumber(ngx.var.arg_fail) or 0)
    lib.dict:set("fo:fail_status", tonumber(ngx.var.arg_status) or 503)
    return lib.json_send(200, { ok = true })
  end

  -- What reached the portal: terminated operation ids, polls answered.
  function lib.CONTROL.fileops()
    local terminated = load(lib, "fo:terminated", {})
    return lib.json_send(200, { terminated = terminated, polls = lib.dict:get("fo:polls") or 0 })
  end
end

return M
