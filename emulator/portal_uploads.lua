-- DocSpace 3.7.1's upload-session API (shared/reference/portal-api-docspace3.md
-- section 3) and the version route that tells a client whether a portal has it:
--   GET  settings/version/build                  anonymous; Workspace: 404
--   POST files/{folder}/session                  {fileName, fileSize}: the session, not in success/data
--   POST files/{folder}/session/{id}/upload?chunkNumber=N   multipart File; any order
--   POST files/{folder}/session/{id}             the next chunk; 201 with uploaded = true at the end
--   PUT  files/{folder}/session/{id}/finalize    201: {id, folderId, version, title, uploaded, file}
--   DELETE files/{folder}/session/{id}           abort
-- Portals before 3.7.1 answer 404 to the session routes. A file name holding
-- "failchunk" has its chunk 2 refused, as in the legacy flow.
-- Controls: /__emu/version?docspace=3.6.0 ("missing": the route answers 404),
-- /__emu/uploads: chunks per flow, aborts, finalized files, the last session's chunk order.
local M = {}

local DEFAULT_VERSION = "3.7.1"
local MAX_CHUNK = 10 * 1024 * 1024 -- files:uploader:chunk-size

local function version(lib)
  return lib.dict:get("docspace_version") or DEFAULT_VERSION
end

local function has_sessions(lib)
  local major, minor, patch = version(lib):match("^(%d+)%.(%d+)%.?(%d*)")
  local v = major and (tonumber(major) * 10000 + tonumber(minor) * 100 + (tonumber(patch) or 0)) or 0
  return v >= 30701
end

local function build_version(lib)
  local v = version(lib)
  if lib.flavor() ~= "docspace" or v == "missing" then
    return lib.err(404, "Not found")
  end
  return lib.ok({ docSpace = v, documentServer = "9.0.4.50", mailServer = lib.cjson.null })
end

local function chunk_dir(uid)
  return ngx.var.portal_prefix .. "/uploads/session-" .. uid
end

local function load(lib, uid)
  local state = lib.dict:get("ns:" .. uid)
  return state and lib.cjson.decode(state)
end

local function session_doc(uid, state)
  local received = 0
  for _, n in pairs(state.chunks) do
    received = received + n
  end
  return { id = uid, path = { state.folder }, created = "2026-11-27T10:00:00.0000000Z",
    expired = "2026-11-27T22:00:00.0000000Z", location = "", bytes_total = state.size,
    bytes_uploaded = received }
end

local function create(lib, folder)
  lib.authorized()
  local f = lib.body_fields() or {}
  local size = tonumber(f.filesize)
  if type(f.filename) ~= "string" or not size then
    return lib.err(400, "fileName and fileSize are required")
  end
  local uid = ngx.md5(ngx.now() .. f.filename .. math.random())
  local state = { name = f.filename, size = size, folder = folder, chunks = {}, order = {}, next = 0 }
  lib.dict:set("ns:" .. uid, lib.cjson.encode(state))
  lib.dict:incr("session_opened", 1, 0)
  os.execute("mkdir -p '" .. chunk_dir(uid) .. "'")
  return lib.ok(session_doc(uid, state))
end

-- The chunk in the request, stored under its number: the state, or an answer sent.
local function take_chunk(lib, uid, number)
  local state = load(lib, uid)
  if not state then
    return lib.err(404, "The upload session was not found")
  end
  local name, content = lib.multipart_file()
  if not name then
    return lib.err(400, "No file in the request")
  end
  number = number or state.next + 1
  state.next = math.max(state.next, number)
  lib.dict:incr("chunks", 1, 0)
  lib.dict:incr("session_chunks", 1, 0)
  state.order[#state.order + 1] = number
  lib.dict:set("last_order", lib.cjson.encode(state.order))
  if #content > MAX_CHUNK then
    return lib.err(400, "The chunk is larger than the largest allowed, " .. MAX_CHUNK .. " bytes")
  end
  if state.name:find("failchunk", 1, true) and number == 2 then
    return lib.err(400, "Emulated chunk failure")
  end
  lib.write_file(chunk_dir(uid) .. "/" .. number, content)
  state.chunks[tostring(number)] = #content
  lib.dict:set("ns:" .. uid, lib.cjson.encode(state))
  return state
end

-- The chunks in number order, 1..n without a gap, as one file; nil, why when bytes are missing.
local function assemble(lib, uid, state)
  local total, parts, n = 0, {}, 0
  for k in pairs(state.chunks) do
    n = math.max(n, tonumber(k))
  end
  for i = 1, n do
    local size = state.chunks[tostring(i)]
    if not size then
      return nil, "Chunk " .. i .. " is missing"
    end
    total = total + size
    parts[i] = chunk_dir(uid) .. "/" .. i
  end
  if total ~= state.size then
    return nil, ("The session holds %d of %d bytes"):format(total, state.size)
  end
  local out = ngx.var.portal_prefix .. "/uploads/assembled-" .. uid
  local f = assert(io.open(out, "wb"))
  for _, path in ipairs(parts) do
    local c = assert(io.open(path, "rb"))
    f:write(c:read("*a"))
    c:close()
  end
  f:close()
  os.execute("rm -rf '" .. chunk_dir(uid) .. "'")
  lib.dict:delete("ns:" .. uid)
  local id, meta = lib.save_file(state.name, state.folder, out, state.size)
  lib.dict:incr("session_finalized", 1, 0)
  return { id = id, folderId = state.folder, version = 1, title = state.name, providerKey = lib.cjson.null,
    uploaded = true, file = lib.file_entry(id, meta) }
end

local function created(lib, doc)
  return lib.json_send(201, { response = doc, count = 1, status = 0, statusCode = 201 })
end

local function finalize(lib, uid)
  lib.authorized()
  local state = load(lib, uid)
  if not state then
    return lib.err(404, "The upload session was not found")
  end
  local doc, why = assemble(lib, uid, state)
  if not doc then
    return lib.err(400, why)
  end
  return created(lib, doc)
end

local function numbered(lib, uid)
  lib.authorized()
  local number = tonumber(ngx.var.arg_chunkNumber or ngx.var.arg_ChunkNumber or ngx.var.arg_chunknumber)
  if number and (number < 1 or number ~= math.floor(number)) then
    return lib.err(400, "chunkNumber must be 1 or more")
  end
  local state = take_chunk(lib, uid, number)
  return lib.ok(session_doc(uid, state))
end

-- The sequential route numbers chunks itself and finalizes after the last byte.
local function sequential(lib, uid)
  lib.authorized()
  local state = take_chunk(lib, uid, nil)
  local doc = session_doc(uid, state)
  if doc.bytes_uploaded < state.size then
    return lib.ok(doc)
  end
  local done, why = assemble(lib, uid, state)
  if not done then
    return lib.err(400, why)
  end
  return created(lib, done)
end

local function abort(lib, uid)
  lib.authorized()
  lib.dict:incr("session_aborts", 1, 0)
  if not load(lib, uid) then
    return lib.err(404, "The upload session was not found")
  end
  lib.dict:delete("ns:" .. uid)
  os.execute("rm -rf '" .. chunk_dir(uid) .. "'")
  return lib.ok(lib.cjson.null)
end

local function folder_of(lib, rest)
  return tonumber(rest:match("^files/(%d+)/")) or lib.MY_FOLDER
end

function M.route(lib, method, _, rest)
  if not rest then
    return nil
  end
  if rest == "settings/version/build" and method == "GET" then
    return build_version(lib)
  end
  local uid, tail = rest:match("^files/[%w@]+/session/(%w+)(.*)$")
  if not (uid or rest:match("^files/[%w@]+/session$")) then
    return nil
  end
  if lib.flavor() ~= "docspace" or not has_sessions(lib) then
    return lib.err(404, "Not found")
  end
  if not uid and method == "POST" then
    return create(lib, folder_of(lib, rest))
  elseif tail == "/upload" and method == "POST" then
    return numbered(lib, uid)
  elseif tail == "/finalize" and method == "PUT" then
    return finalize(lib, uid)
  elseif tail == "" and method == "POST" then
    return sequential(lib, uid)
  elseif tail == "" and method == "DELETE" then
    return abort(lib, uid)
  end
  return lib.err(405, "Method not allowed")
end

-- Set ?docspace= on every server of this emulator (a shared dict).
local function control_version(lib)
  local v = ngx.var.arg_docspace
  lib.dict:set("docspace_version", v and ngx.unescape_uri(v) or nil)
  return lib.json_send(200, { ok = true, docSpace = version(lib) })
end

local function control_uploads(lib)
  local d = lib.dict
  local session = d:get("session_chunks") or 0
  return lib.json_send(200, { session_chunks = session, legacy_chunks = (d:get("chunks") or 0) - session,
    aborts = d:get("session_aborts") or 0, opened = d:get("session_opened") or 0,
    finalized = d:get("session_finalized") or 0,
    last_order = d:get("last_order") and lib.cjson.decode(d:get("last_order")) or lib.cjson.empty_array })
end

function M.install(lib)
  lib.CONTROL.version = function() return control_version(lib) end
  lib.CONTROL.uploads = function() return control_uploads(lib) end
end

return M
