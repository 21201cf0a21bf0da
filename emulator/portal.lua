-- The portal emulator: an nginx content handler that answers like DocSpace
-- ($flavor = docspace) or Workspace/Community Server ($flavor = workspace),
-- following ../shared/reference/portal-api.md rather than the published examples.
local cjson = require "cjson.safe"

local M = {}

local dict = ngx.shared.portal

local USERS = {
  ["user@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0001-4c1a-9d55-000000000001",
    name = "Ada Example" },
  ["throttle@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0002-4c1a-9d55-000000000002",
    name = "Throttle Example" },
  ["tfa@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0003-4c1a-9d55-000000000003",
    name = "App Factor", tfa = true, code = "123456" },
  ["sms@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0004-4c1a-9d55-000000000004",
    name = "Sms Factor", sms = true, code = "654321", phone = "+1***1234" },
  -- Workspace's documentation spells the token fields Token/Expires.
  ["pascal@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0005-4c1a-9d55-000000000005",
    name = "Pascal Case", pascal = true },
  ["odd@example.com"] = { password = "p\"a\\ss w\trd\n\226\130\172\1</", id = "8f3c3d1e-0006-4c1a-9d55-000000000006",
    name = "Odd Password" },
  -- Portals gone wrong: a token that cannot stand in a header, and a login
  -- failure that repeats the password it was sent.
  ["semicolon@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0007-4c1a-9d55-000000000007",
    name = "Semi Colon", token = "tok-0123456789;asc_auth_key=evil" },
  ["cr@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0008-4c1a-9d55-000000000008",
    name = "Carriage Return", token = "tok-0123456789\r\nX-Injected: 1" },
  ["echo@example.com"] = { password = "correct-horse-7", id = "8f3c3d1e-0009-4c1a-9d55-000000000009",
    name = "Echo Failure", echo = true },
}

local MY_FOLDER = 1001
local MY_FILES, MY_FOLDERS = 230, 7
local FIRST_FILE, FIRST_FOLDER = 100001, 2001
local EXPIRES = "2027-11-27T12:00:00.0000000Z"
local NO_EXPIRY = "0001-01-01T00:00:00"

local function flavor()
  return ngx.var.flavor
end

local function send(status, body, ctype, headers)
  ngx.status = status
  ngx.header["Content-Type"] = ctype
  for k, v in pairs(headers or {}) do
    ngx.header[k] = v
  end
  ngx.header["Content-Length"] = body and #body or 0
  ngx.send_headers()
  if body and body ~= "" then
    ngx.print(body)
  end
  return ngx.exit(ngx.HTTP_OK)
end

-- Empty JSON arrays. Debian's lua-cjson 2.1.0 (the one nginx's LuaJIT loads) has
-- neither cjson.empty_array nor array_mt and writes {} for every empty table, so a
-- table marked by array() that is empty goes out as a placeholder string, which
-- the encoded text then has replaced by []. OpenResty's cjson has its own marker.
local ARRAY_MT = {}
local EMPTY = "__emu_empty_array_5f1c__"

local function array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

local function mark_empty(v)
  if type(v) ~= "table" then
    return v
  end
  if getmetatable(v) == ARRAY_MT and next(v) == nil then
    return cjson.empty_array or EMPTY
  end
  for k, x in pairs(v) do
    if type(x) == "table" then
      v[k] = mark_empty(x)
    end
  end
  return v
end

local function json_send(status, doc, headers)
  local text = cjson.encode(mark_empty(doc))
  if text and text:find(EMPTY, 1, true) then
    text = text:gsub('"' .. EMPTY .. '"', "[]")
  end
  return send(status, text, "application/json; charset=utf-8", headers)
end

-- Success envelope: DocSpace answers 200, Workspace 201 for every POST.
local function ok(response, extra)
  local status = 200
  if flavor() == "workspace" and ngx.req.get_method() == "POST" then
    status = 201
  end
  -- count: the length of a list, 1 for anything else, a null response (logout) too.
  local doc = { response = response, status = 0, statusCode = status,
    count = type(response) == "table" and #response > 0 and #response or 1 }
  for k, v in pairs(extra or {}) do
    doc[k] = v
  end
  if flavor() == "docspace" then
    doc.links = { { href = ngx.var.scheme .. "://" .. ngx.var.http_host .. ngx.var.uri,
      action = ngx.req.get_method() } }
  end
  return json_send(status, doc)
end

local function err(status, message)
  return json_send(status, { error = { message = message, type = cjson.null, stack = cjson.null,
    hresult = 0 }, status = 1, statusCode = status })
end

---------------------------------------------------------------------------
-- Tokens: "tok:<token>" -> "<login> <generation>"; revoking a user bumps the generation.
---------------------------------------------------------------------------

local function new_token(login)
  local token = ngx.encode_base64(ngx.sha1_bin(tostring(ngx.now()) .. login .. math.random()) .. "+/")
  dict:set("tok:" .. token, login .. " " .. (dict:get("gen:" .. login) or 0))
  dict:incr("logins:" .. login, 1, 0)
  dict:incr("logins", 1, 0)
  return token
end

local function token_user(token)
  local v = token and dict:get("tok:" .. token)
  if not v then
    return nil
  end
  local login, gen = v:match("^(.*) (%d+)$")
  if tonumber(gen) ~= (dict:get("gen:" .. login) or 0) then
    return nil
  end
  return login, USERS[login]
end

local function request_token()
  local cookie = ngx.var.cookie_asc_auth_key
  if cookie and cookie ~= "" then
    return cookie
  end
  local auth = ngx.var.http_authorization
  if auth then
    return (auth:gsub("^Bearer ", ""))
  end
end

local function unauthorized()
  if flavor() == "docspace" then
    return send(401, "", nil)
  end
  local headers = {}
  if ngx.var.http_authorization then
    headers["WWW-Authenticate"] = 'Basic Realm="' .. (ngx.var.host or "") .. '"'
  end
  return send(401, "Unauthorized", "text/plain", headers)
end

-- Set by extensions: bearer(credential) -> login | nil, status (401, 403), or
-- nothing for a credential that is not theirs (a login token sent as Bearer).
local hooks = {}

local function authorized()
  local auth = ngx.var.http_authorization
  if hooks.bearer and flavor() == "docspace" and auth and auth:match("^Bearer ") then
    local login, status = hooks.bearer(auth:sub(8))
    if login then
      return login, USERS[login]
    elseif status == 403 then
      send(403, "", nil)
    elseif status then
      unauthorized()
    end
  end
  local login, user = token_user(request_token())
  if not login then
    unauthorized()
  end
  return login, user
end

---------------------------------------------------------------------------
-- Login
---------------------------------------------------------------------------

local function body_fields()
  ngx.req.read_body()
  local raw = ngx.req.get_body_data() or ""
  local ctype = (ngx.var.content_type or ""):lower()
  local fields
  if ctype:find("application/json", 1, true) then
    fields = cjson.decode(raw)
  elseif flavor() == "workspace" and ctype:find("x-www-form-urlencoded", 1, true) then
    fields = ngx.decode_args(raw)
  elseif flavor() == "docspace" then
    return nil, 415
  end
  -- Both servers bind field names case-insensitively.
  local lower = {}
  for k, v in pairs(type(fields) == "table" and fields or {}) do
    lower[tostring(k):lower()] = v
  end
  return lower
end

local function login_failure(message)
  return err(flavor() == "docspace" and 401 or 500, message)
end

-- Brute-force protection: more than five attempts inside 60 s block the login for 60 s.
local function throttled(login)
  local key = flavor() .. ":" .. login:lower() .. ":" .. ngx.var.remote_addr
  if dict:get("block:" .. key) then
    return true
  end
  local attempts = dict:incr("attempts:" .. key, 1, 0, 60)
  if attempts and attempts > 5 then
    dict:set("block:" .. key, true, 60)
    return true
  end
  return false, key
end

local function token_answer(login, user, second_factor)
  local token = user.token or new_token(login)
  local r
  if user.pascal then
    r = { Token = token, Expires = EXPIRES }
  elseif flavor() == "docspace" then
    r = { token = token, expires = EXPIRES, sms = user.sms == true and second_factor,
      tfa = user.tfa == true and second_factor }
  else
    r = { token = token, expires = EXPIRES }
  end
  return ok(r)
end

local function challenge(user)
  local r = { tfa = user.tfa == true, sms = user.sms == true, expires = NO_EXPIRY }
  if flavor() == "docspace" then
    r.confirmUrl = "http://" .. ngx.var.http_host .. "/wizard?type=TfaAuth&key=confirm-key"
  end
  if user.sms then
    r.phoneNoise = user.phone
  end
  return ok(r)
end

local function authenticate(code_route)
  local f, status = body_fields()
  if not f then
    return err(status, "Unsupported media type")
  end
  local login = type(f.username) == "string" and f.username or ""
  dict:set("last_login_body", ngx.req.get_body_data() or "")
  dict:incr("attempts_total:" .. login:lower(), 1, 0) -- every attempt, whatever its outcome
  local delay = dict:get("login_delay")
  if delay then
    ngx.sleep(delay)
  end
  local fault = dict:get("login_fault")
  if fault then -- a portal that cannot log anyone in now (a 503 from its proxy, say)
    return err(fault, "Service unavailable")
  end
  local blocked, key = throttled(login)
  if blocked then
    if flavor() == "docspace" then
      return err(403, "Too many login attempts. Please try again later")
    end
    return err(500, "Login Fail. Too many attempts")
  end
  local user = USERS[login:lower()]
  if user and user.echo then
    return login_failure("User authentication failed for password " .. tostring(f.password))
  end
  if not user or f.password ~= user.password then
    return login_failure("User authentication failed")
  end
  dict:delete("attempts:" .. key)
  local second_factor = user.tfa or user.sms
  if code_route then
    if not second_factor or tostring(f.code) ~= user.code then
      return login_failure("User authentication failed")
    end
    return token_answer(login:lower(), user, true)
  end
  if second_factor then
    return challenge(user)
  end
  return token_answer(login:lower(), user, false)
end

local function logout()
  if flavor() ~= "docspace" then
    return err(404, "Not found")
  end
  -- DocSpace reads the login event from the cookie only: a header token survives.
  local token = ngx.var.cookie_asc_auth_key
  if token and token ~= "" then
    dict:delete("tok:" .. token)
  end
  return ok(cjson.null) -- "response": null, as DocSpace sends it
end

---------------------------------------------------------------------------
-- Portal content
---------------------------------------------------------------------------

local function me()
  local login, user = authorized()
  local first, last = (user.name or ""):match("^(%S*)%s*(.-)$")
  -- EmployeeFullDto's scalar fields (spec/schemas/docspace.json), for an active user.
  return ok({ id = user.id, displayName = user.name, firstName = first, lastName = last,
    userName = login:match("^[^@]+"), email = login, status = 1, activationStatus = 1,
    isAdmin = user.admin == true, isRoomAdmin = false, isLDAP = false, isOwner = user.owner == true,
    isVisitor = false, isCollaborator = false, isSSO = false, cultureName = "en-US",
    listAdminModules = array(), hasPersonalFolder = true, tfaAppEnabled = user.tfa == true,
    registrationDate = "2026-01-01T10:00:00.0000000Z" })
end

-- Workspace's download handler lives under Products/Files; DocSpace's at the root.
local function view_url(id)
  if flavor() == "docspace" then
    return ngx.var.scheme .. "://" .. ngx.var.http_host .. "/filehandler.ashx?action=download&fileid=" .. id
  end
  return "/Products/Files/HttpHandlers/filehandler.ashx?action=download&fileid=" .. id
end

-- FileType (the schema's enum) by extension.
local FILE_TYPES = { [".zip"] = 1, [".7z"] = 1, [".mp4"] = 2, [".webm"] = 2, [".mp3"] = 3, [".ogg"] = 3,
  [".png"] = 4, [".jpg"] = 4, [".jpeg"] = 4, [".gif"] = 4, [".xlsx"] = 5, [".xls"] = 5, [".ods"] = 5,
  [".csv"] = 5, [".pptx"] = 6, [".ppt"] = 6, [".odp"] = 6, [".docx"] = 7, [".doc"] = 7, [".odt"] = 7,
  [".txt"] = 7, [".md"] = 7, [".pdf"] = 10, [".vsdx"] = 11 }

local CREATED = "2026-11-01T10:00:00.0000000Z"

-- What the owner of "My documents" may do with an entry (FileEntryDto's security).
local function security()
  return { Read = true, Comment = true, FillForms = true, Review = true, Edit = true, Delete = true,
    Rename = true, ReadHistory = true, Lock = true, Copy = true, Move = true, Download = true,
    Duplicate = true, Convert = true }
end

-- The fields every file and folder has (FileEntryDto): access 0 is FileShare.None,
-- the owner's full rights; rootFolderType 5 is USER ("My documents").
local function entry_base(id, title)
  return { id = id, title = title, access = 0, shared = false, created = CREATED, updated = CREATED,
    rootFolderId = MY_FOLDER, rootFolderType = 5, canShare = false,
    security = security() }
end

local function file_entry(id, meta)
  meta = meta or { title = ("Document %d.docx"):format(id - FIRST_FILE + 1), size = 12800 + id % 1000,
    folderId = MY_FOLDER }
  local e = entry_base(id, meta.title)
  local ext = (meta.title:match("%.[^.]*$") or ""):lower()
  e.folderId, e.version, e.versionGroup = meta.folderId, 1, 1
  e.contentLength, e.pureContentLength = meta.size .. " B", meta.size
  e.fileExst, e.fileType, e.fileStatus, e.mute = ext, FILE_TYPES[ext] or 0, 0, false
  e.viewUrl, e.fileEntryType = view_url(id), 2
  return e
end

local function folder_entry(id, title, parent)
  local e = entry_base(id, title or ("Folder %d"):format(id - FIRST_FOLDER + 1))
  e.parentId, e.filesCount, e.foldersCount, e.new = parent or MY_FOLDER, 0, 0, 0
  e.isShareable, e.mute, e.pinned, e.private, e.indexing, e.denyDownload = false, false, false, false, false, false
  e.type, e.fileEntryType = 5, 1
  return e
end

-- "My documents" itself, as the current folder of its listing.
local function my_folder(total)
  local f = folder_entry(MY_FOLDER, "My documents", 0)
  f.parentId, f.filesCount, f.foldersCount = 0, total - MY_FOLDERS, MY_FOLDERS
  return f
end

-- A folder listing: folders first, then files, cut by startIndex and count.
local function listing(folder_id)
  authorized()
  if folder_id ~= MY_FOLDER then
    return err(404, "The required folder was not found")
  end
  local q = ngx.req.get_uri_args()
  local start = math.max(tonumber(q.startIndex) or 0, 0)
  local count = tonumber(q.count) or 100
  local cap = flavor() == "docspace" and 100 or 1000
  if count < 1 or count > cap then
    return err(400, "count must be between 1 and " .. cap)
  end
  local total = MY_FOLDERS + MY_FILES
  local files, folders = {}, {}
  for i = start, math.min(start + count, total) - 1 do
    if i < MY_FOLDERS then
      folders[#folders + 1] = folder_entry(FIRST_FOLDER + i)
    else
      files[#files + 1] = file_entry(FIRST_FILE + i - MY_FOLDERS)
    end
  end
  local shown = #files + #folders
  local content = { files = array(files), folders = array(folders), current = my_folder(total),
    pathParts = array({ { id = MY_FOLDER, title = "My documents" } }), new = 0 }
  if flavor() == "docspace" then
    content.startIndex, content.count, content.total = start, shown, total
    return ok(content, { count = shown })
  end
  local extra = { count = shown, startIndex = start > 0 and start or nil, total = total }
  if start + shown < total then
    extra.nextIndex = start + shown
  end
  return ok(content, extra)
end

local STORED_FIRST = 300001
-- Special files: 999000 is generated by control.lua, 999999 breaks off mid-body,
-- 999998 is served from the other server after a redirect, 999997 redirects
-- wherever /__emu/storage?to=&code= said last.
local BIG, BROKEN, ELSEWHERE, REDIRECTED = 999000, 999999, 999998, 999997

local function files_dir()
  return ngx.var.portal_prefix .. "/files/"
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local size = f:seek("end")
  f:close()
  return size
end

local function stored_meta(id)
  local meta = dict:get("file:" .. id)
  if meta then
    return cjson.decode(meta)
  end
  if id == BIG or id == ELSEWHERE then
    local size = file_size(files_dir() .. BIG)
    return size and { title = "big.bin", size = size, folderId = MY_FOLDER }
  end
  if id == BROKEN then
    return { title = "broken.bin", size = 1048576, folderId = MY_FOLDER }
  end
  if id == REDIRECTED then
    return { title = "redirected.bin", size = 0, folderId = MY_FOLDER }
  end
end

local function file_info(id)
  authorized()
  local meta = stored_meta(id)
  if not meta and (id < FIRST_FILE or id >= FIRST_FILE + MY_FILES) then
    return err(404, "The required file was not found")
  end
  return ok(file_entry(id, meta))
end

local function read_body()
  ngx.req.read_body()
  local data = ngx.req.get_body_data()
  if data then
    return data
  end
  local path = ngx.req.get_body_file()
  if not path then
    return ""
  end
  local f = assert(io.open(path, "rb"))
  data = f:read("*a")
  f:close()
  return data
end

-- The first part of a multipart body that carries a file name: name, content.
local function multipart_file()
  local boundary = (ngx.var.content_type or ""):match("boundary=\"?([^\";]+)")
  if not boundary then
    return nil
  end
  local body = read_body()
  local delim = "--" .. boundary
  local pos = body:find(delim, 1, true)
  while pos do
    local head_end = body:find("\r\n\r\n", pos, true)
    if not head_end then
      return nil
    end
    local headers = body:sub(pos, head_end)
    local next_pos = body:find("\r\n" .. delim, head_end + 4, true)
    if not next_pos then
      return nil
    end
    local filename = headers:match('filename="([^"]*)"')
    if filename then
      return filename, body:sub(head_end + 4, next_pos - 1)
    end
    pos = next_pos + 2
  end
end

local function save_file(title, folder, content_path, size)
  local id = dict:incr("next_file", 1, STORED_FIRST - 1)
  assert(os.rename(content_path, files_dir() .. id))
  local meta = { title = title, size = size, folderId = folder }
  dict:set("file:" .. id, cjson.encode(meta))
  return id, meta
end

-- A whole file, or nil when it cannot be opened.
local function read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local data = f:read("*a")
  f:close()
  return data
end

local function write_file(path, content, mode)
  local f = assert(io.open(path, mode or "wb"))
  f:write(content)
  f:close()
end

local function upload(folder)
  authorized()
  local name, content = multipart_file()
  if not name then
    return err(400, "No file in the request")
  end
  local tmp = ngx.var.portal_prefix .. "/uploads/single-" .. dict:incr("next_tmp", 1, 0)
  write_file(tmp, content)
  local id, meta = save_file(name, folder, tmp, #content)
  if flavor() == "docspace" then
    return ok({ file_entry(id, meta) })
  end
  return ok(file_entry(id, meta))
end

local function create_session(folder)
  authorized()
  local f = body_fields() or {}
  local size = tonumber(f.filesize)
  if type(f.filename) ~= "string" or not size then
    return err(400, "fileName and fileSize are required")
  end
  local uid = ngx.md5(ngx.now() .. f.filename .. math.random())
  dict:set("us:" .. uid, cjson.encode({ name = f.filename, size = size, folder = folder, received = 0, chunks = 0 }))
  write_file(ngx.var.portal_prefix .. "/uploads/" .. uid, "")
  return ok({ success = true, data = { id = uid, path = { folder }, created = "2026-11-27T10:00:00.0000000Z",
    expired = "2026-11-28T10:00:00.0000000Z", bytes_total = size,
    location = ngx.var.scheme .. "://" .. ngx.var.http_host .. "/ChunkedUploader.ashx?uid=" .. uid } })
end

-- Chunk replies are not enveloped: {success, data, message}; failures come as 200.
local function upload_chunk()
  authorized()
  local uid = ngx.var.arg_uid or ""
  local state = dict:get("us:" .. uid)
  if not state then
    return json_send(200, { success = false, message = "Upload session not found" })
  end
  state = cjson.decode(state)
  local name, content = multipart_file()
  if not name then
    return json_send(200, { success = false, message = "No file in the chunk" })
  end
  state.chunks = state.chunks + 1
  state.received = state.received + #content
  if state.name:find("failchunk", 1, true) and state.chunks == 2 then
    return json_send(200, { success = false, message = "Emulated chunk failure" })
  end
  if state.received > state.size then
    return json_send(200, { success = false, message = "File size exceeded" })
  end
  local path = ngx.var.portal_prefix .. "/uploads/" .. uid
  write_file(path, content, "ab")
  dict:set("us:" .. uid, cjson.encode(state))
  dict:incr("chunks", 1, 0)
  if state.received < state.size then
    return json_send(200, { success = true, data = { id = uid, bytes_uploaded = state.received } })
  end
  dict:delete("us:" .. uid)
  local id, meta = save_file(state.name, state.folder, path, state.size)
  return json_send(201, { success = true, data = file_entry(id, meta) })
end

-- The headers of the last request on a path, per server port, for the specs
-- to check what reached which origin (/__emu/seen?path=).
local function record_headers()
  dict:set("seen:" .. ngx.var.server_port .. " " .. ngx.var.uri, cjson.encode(ngx.req.get_headers()))
end

-- deliver(id) (an extension's) sends a stored file; by default nginx serves it.
local function serve_file(deliver)
  record_headers()
  authorized()
  local id = tonumber(ngx.var.arg_fileid)
  if id == REDIRECTED then
    return ngx.redirect(dict:get("storage_to") or "/", tonumber(dict:get("storage_code")) or 302)
  end
  if id == BROKEN then
    ngx.header["Content-Type"] = "application/octet-stream"
    ngx.header["Content-Length"] = 1048576
    ngx.print(("b"):rep(100000))
    ngx.flush(true)
    return ngx.exit(ngx.ERROR)
  elseif id == ELSEWHERE then
    local port = tonumber(ngx.var.server_port)
    port = flavor() == "docspace" and port + 1 or port - 1
    return ngx.redirect("http://127.0.0.1:" .. port .. "/__public/" .. BIG, 302)
  end
  if not id or not stored_meta(id) or not file_size(files_dir() .. id) then
    return err(404, "The required file was not found")
  end
  if deliver then
    return deliver(id)
  end
  return ngx.exec("/__files/" .. id)
end

-- A file offered without credentials, like a storage URL a portal redirects to;
-- it records whether anything credential-like arrived.
local function serve_public(id)
  record_headers()
  if ngx.var.http_authorization or ngx.var.cookie_asc_auth_key then
    dict:set("public_saw_credentials", true)
  end
  return ngx.exec("/__files/" .. id)
end

local function people()
  authorized()
  local start = math.max(tonumber(ngx.var.arg_startIndex) or 0, 0)
  local count = tonumber(ngx.var.arg_count) or 100
  local total = 150
  local list = {}
  for i = start + 1, math.min(start + count, total) do
    list[#list + 1] = { id = ("8f3c3d1e-1000-4c1a-9d55-%012d"):format(i), displayName = "Person " .. i,
      email = ("person%d@example.com"):format(i) }
  end
  return ok(list, { count = #list, startIndex = start > 0 and start or nil, total = total,
    nextIndex = start + #list < total and start + #list or nil })
end

local function create_folder(parent)
  authorized()
  local f = body_fields() or {}
  if type(f.title) ~= "string" or f.title == "" then
    return err(400, "Title is empty")
  end
  local id = dict:incr("next_folder", 1, FIRST_FOLDER + 5000)
  return ok(folder_entry(id, f.title, parent))
end

---------------------------------------------------------------------------
-- Test endpoints: echo and faults
---------------------------------------------------------------------------

local function echo()
  authorized()
  ngx.req.read_body()
  return ok({ method = ngx.req.get_method(), uri = ngx.var.request_uri, args = ngx.req.get_uri_args(),
    headers = ngx.req.get_headers(), body = ngx.req.get_body_data() or "",
    connection = tonumber(ngx.var.connection), requests = tonumber(ngx.var.connection_requests),
    protocol = ngx.var.server_protocol })
end

local FAULTS = {}

-- Also counts the slow requests in flight, and the most at once, for batch specs.
function FAULTS.slow()
  local now = dict:incr("inflight", 1, 0)
  if now > (dict:get("max_inflight") or 0) then
    dict:set("max_inflight", now)
  end
  ngx.sleep((tonumber(ngx.var.arg_ms) or 1000) / 1000)
  dict:incr("inflight", -1)
  return ok({ slept = true, connection = tonumber(ngx.var.connection) })
end

function FAULTS.html502()
  return send(502, "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>",
    "text/html")
end

function FAULTS.cut()
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = 4096
  ngx.print('{"response":{"data":"' .. ("x"):rep(100))
  ngx.flush(true)
  return ngx.exit(ngx.ERROR)
end

function FAULTS.truncated()
  return send(200, '{"response":{"id":1,"title":"cut', "application/json")
end

-- The first `times` hits on `key` answer `status`, later ones succeed.
function FAULTS.flaky()
  local key = "flaky:" .. (ngx.var.arg_key or "")
  local hits = dict:incr(key, 1, 0)
  if hits <= (tonumber(ngx.var.arg_times) or 1) then
    local headers = ngx.var.arg_after and { ["Retry-After"] = ngx.var.arg_after } or nil
    if ngx.var.arg_after_date then -- Retry-After as an HTTP date, that many seconds ahead
      headers = { ["Retry-After"] = ngx.http_time(ngx.time() + (tonumber(ngx.var.arg_after_date) or 0)) }
    end
    return send(tonumber(ngx.var.arg_status) or 503, "", nil, headers)
  end
  return ok({ hits = hits })
end

function FAULTS.text()
  return send(200, "plain words", "text/plain; charset=utf-8")
end

function FAULTS.numbers()
  return send(200, '{"response":{"id":100001,"negative":-42,"ratio":1.5,"zero":0,"nothing":null,'
    .. '"list":[1,2,3]},"count":1,"status":0,"statusCode":200}', "application/json")
end

function FAULTS.plainjson()
  return send(200, '{"id":7,"name":"not enveloped"}', "application/json")
end

function FAULTS.redirect()
  if ngx.var.arg_loop then
    return ngx.redirect(ngx.var.request_uri, 302)
  end
  return ngx.redirect(ngx.unescape_uri(ngx.var.arg_to or "/"), tonumber(ngx.var.arg_code) or 302)
end

function FAULTS.status()
  return err(tonumber(ngx.var.arg_code) or 500, "emulated failure " .. (ngx.var.arg_code or "500"))
end

-- A careless server that repeats the credentials it was sent in its error.
function FAULTS.leak()
  ngx.req.read_body()
  return err(400, "rejected token " .. (ngx.var.http_authorization or "") .. " with body "
    .. (ngx.req.get_body_data() or ""))
end

-- A portal's answer that would make an nginx in front serve another location.
function FAULTS.accel()
  ngx.header["X-Accel-Redirect"] = "/fast"
  return ok({ from = "portal" })
end

function FAULTS.always401()
  return unauthorized()
end

-- The Authorization value as a careless server might repeat it: raw, URL-encoded
-- (upper- or lower-case hex), or JSON-escaped with "\/" for "/".
local function auth_form(form)
  local auth = ngx.var.http_authorization or ""
  if form == "url" then
    return ngx.escape_uri(auth)
  elseif form == "urllower" then
    return (ngx.escape_uri(auth):gsub("%%%x%x", string.lower))
  elseif form == "json" then
    return (cjson.encode(auth):sub(2, -2))
  end
  return auth
end

-- An HTML error page with the Authorization value after `pad` bytes of filler,
-- from byte #"<html>" + pad + #"auth=" + 1 on: emu/htmlecho?pad=494&form=&status=
function FAULTS.htmlecho()
  local pad = tonumber(ngx.var.arg_pad) or 0
  return send(tonumber(ngx.var.arg_status) or 400, "<html>" .. ("x"):rep(pad) .. "auth=" .. auth_form(ngx.var.arg_form)
    .. "</html>", "text/html")
end

-- A JSON error that repeats the Authorization value outside error.message:
-- in type, stack, an inner exception, a list, a key, URL-encoded and JSON-escaped.
function FAULTS.jsonleak()
  local auth = auth_form("raw")
  local inner = { message = "inner " .. auth, url = "/x?token=" .. auth_form("url"),
    lower = "/x?token=" .. auth_form("urllower"), escaped = "json " .. auth_form("json"),
    list = { auth, { deeper = "at " .. auth } } }
  inner[auth] = "a key"
  return json_send(tonumber(ngx.var.arg_status) or 400, { error = { message = "rejected", type = "AuthError " .. auth,
    stack = "at Auth(" .. auth .. ")", inner = inner, hresult = 0 }, status = 1, statusCode = 400 })
end

-- A 2xx answer of broken JSON that repeats the Authorization value in its three forms.
function FAULTS.badjsonecho()
  return send(200, '{"response":{"raw":"' .. auth_form("raw") .. '","url":"' .. auth_form("url") .. '","json":"'
    .. auth_form("json") .. '","cut', "application/json")
end

-- A listing that ignores startIndex: always the same full page, without total
-- (noid=1: items without an id).
function FAULTS.samepage()
  local count = tonumber(ngx.var.arg_count) or 10
  local list = {}
  for i = 1, count do
    list[i] = ngx.var.arg_noid and { title = "Same " .. i } or { id = i, title = "Same " .. i }
  end
  return ok(list, { count = count })
end

-- A listing of n items that honours startIndex and count but gives no total.
function FAULTS.list()
  local n = tonumber(ngx.var.arg_n) or 25
  local start = math.max(tonumber(ngx.var.arg_startIndex) or 0, 0)
  local count = tonumber(ngx.var.arg_count) or 100
  local list = {}
  for i = start + 1, math.min(start + count, n) do
    list[#list + 1] = { id = i, title = "Item " .. i }
  end
  return ok(list, { count = #list })
end

---------------------------------------------------------------------------
-- Hostile answers, written byte by byte on the raw connection: emu/raw/<kind>
---------------------------------------------------------------------------

local RAW = {}

local function raw_socket()
  ngx.req.read_body()
  return assert(ngx.req.socket(true))
end

-- Headers without end, until the client gives up (or 64 MB went out).
function RAW.endless_headers(sock)
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
  local line = "X-Filler: " .. ("h"):rep(100) .. "\r\n"
  local block = line:rep(1000)
  for _ = 1, 64 * 1024 * 1024 / #block do
    if not sock:send(block) then
      return
    end
  end
end

-- A body that trickles in one byte every 200 ms.
function RAW.drip(sock)
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
  for _ = 1, 1000 do
    if not sock:send("x") then
      return
    end
    ngx.sleep(0.2)
  end
end

-- Content-Length says 100, ten bytes come, the connection closes.
function RAW.short_length(sock)
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":1234}")
end

-- Content-Length says 5, more follows.
function RAW.long_length(sock)
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n"
    .. '{"response":{"id":1},"status":0,"statusCode":200}')
end

function RAW.reset_at_once()
end

function RAW.reset_in_status(sock)
  sock:send("HTTP/1.1 2")
end

function RAW.reset_in_headers(sock)
  sock:send("HTTP/1.1 200 OK\r\nContent-Length: 50\r\nContent-Type: applica")
end

function RAW.reset_in_body(sock)
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    .. "10\r\n{\"response\":{\"a\r\n")
end

local function raw_json(sock, body)
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body
    .. "\r\n\r\n" .. body)
end

function RAW.bad_utf8(sock)
  raw_json(sock, '{"response":{"title":"caf\233 \255\254"},"status":0,"statusCode":200}')
end

function RAW.deep_json(sock)
  raw_json(sock, ("["):rep(100000) .. ("]"):rep(100000))
end

-- 100 MB announced and sent, for max_body.
function RAW.huge(sock)
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n")
  local block = ("x"):rep(65536)
  for _ = 1, 1600 do
    if not sock:send(block) then
      return
    end
  end
end

---------------------------------------------------------------------------
-- Control endpoints for the specs
---------------------------------------------------------------------------

local CONTROL = {}

function CONTROL.reset()
  dict:flush_all()
  return json_send(200, { ok = true })
end

function CONTROL.revoke()
  dict:incr("gen:" .. ngx.unescape_uri(ngx.var.arg_user or ""), 1, 0)
  return json_send(200, { ok = true })
end

-- Every later login attempt takes ?ms= milliseconds (0: none).
function CONTROL.login_delay()
  local ms = tonumber(ngx.var.arg_ms) or 0
  dict:set("login_delay", ms > 0 and ms / 1000 or nil)
  return json_send(200, { ok = true })
end

-- Every later login attempt answers ?status= (0: none).
function CONTROL.login_fault()
  local status = tonumber(ngx.var.arg_status) or 0
  dict:set("login_fault", status > 0 and status or nil)
  return json_send(200, { ok = true })
end

function CONTROL.stats()
  local logins, attempts = {}, {}
  for login in pairs(USERS) do
    logins[login] = dict:get("logins:" .. login) or 0
    attempts[login] = dict:get("attempts_total:" .. login) or 0
  end
  return json_send(200, { logins = logins, attempts = attempts, total_logins = dict:get("logins") or 0,
    last_login_body = dict:get("last_login_body"), chunks = dict:get("chunks") or 0,
    public_saw_credentials = dict:get("public_saw_credentials") or false,
    max_inflight = dict:get("max_inflight") or 0 })
end

-- Requests per method and path on this server (or on ?port=), since the last reset.
function CONTROL.hits()
  local port = ngx.var.arg_port or ngx.var.server_port
  local prefix = "hits:" .. port .. " "
  local hits = {}
  for _, key in ipairs(dict:get_keys(0)) do
    if key:sub(1, #prefix) == prefix then
      hits[key:sub(#prefix + 1)] = dict:get(key)
    end
  end
  return json_send(200, { hits = hits })
end

-- The headers of the last request on ?path= (a file handler or /__public/<id>) on this server (or ?port=).
function CONTROL.seen()
  local port = ngx.var.arg_port or ngx.var.server_port
  local seen = dict:get("seen:" .. port .. " " .. ngx.unescape_uri(ngx.var.arg_path or ""))
  return json_send(200, { headers = seen and cjson.decode(seen) or cjson.null })
end

-- Where file 999997's download redirects: ?to=<url>&code=<3xx>.
function CONTROL.storage()
  dict:set("storage_to", ngx.unescape_uri(ngx.var.arg_to or "/"))
  dict:set("storage_code", tonumber(ngx.var.arg_code) or 302)
  return json_send(200, { ok = true })
end

function CONTROL.valid()
  return json_send(200, { valid = token_user(ngx.unescape_uri(ngx.var.arg_token or "")) ~= nil })
end

---------------------------------------------------------------------------
-- Extensions: the DocSpace 3.x features, each in an emulator/portal_*.lua of
-- its own. route(lib, method, uri, rest) answers a request it knows (and does
-- not return, as ngx.exit ends the handler) or returns nil; rest is the path
-- below /api/2.0/ (without Workspace's .json), or nil for other paths. An
-- optional install(lib) runs once at load, to add control routes to lib.CONTROL.
---------------------------------------------------------------------------

M.lib = {
  hooks = hooks, dict = dict, cjson = cjson, USERS = USERS, CONTROL = CONTROL, MY_FOLDER = MY_FOLDER,
  array = array, my_folder = my_folder,
  flavor = flavor, send = send, json_send = json_send, ok = ok, err = err,
  authorized = authorized, unauthorized = unauthorized, token_user = token_user, new_token = new_token,
  body_fields = body_fields, read_body = read_body, multipart_file = multipart_file,
  save_file = save_file, read_file = read_file, write_file = write_file, stored_meta = stored_meta,
  file_entry = file_entry, folder_entry = folder_entry, files_dir = files_dir, file_size = file_size,
  serve_file = serve_file,
}

local EXTENSIONS = {}
for _, name in ipairs({
  "portal_product", -- first: injected faults and the request log of onlyoffice.emulator
  "portal_limits", -- the limiter refuses before anything else runs
  "portal_credentials",
  "portal_webhooks",
  "portal_uploads",
  "portal_fileops", -- before downloads: it serves the file handler's action=bulk
  "portal_downloads",
}) do
  local ext = require(name)
  if ext.install then -- its own /__emu/<name> routes, put in lib.CONTROL before any request
    ext.install(M.lib)
  end
  EXTENSIONS[#EXTENSIONS + 1] = ext
end

--- Log phase: extensions release what a request held.
function M.log()
  for _, ext in ipairs(EXTENSIONS) do
    if ext.log then
      ext.log(M.lib)
    end
  end
end

---------------------------------------------------------------------------
-- Routing
---------------------------------------------------------------------------

function M.handle()
  local method, uri = ngx.req.get_method(), ngx.var.uri
  if method == "HEAD" then
    method = "GET"
  end
  local rest = uri:match("^/api/2%.0/(.*)$")
  if not uri:match("^/__emu/") then
    dict:incr("hits:" .. ngx.var.server_port .. " " .. ngx.req.get_method() .. " " .. uri, 1, 0)
  end
  if uri:match("^/__emu/") then
    local f = CONTROL[uri:match("^/__emu/([%w_]+)$") or ""]
    return f and f() or err(404, "no such control")
  end
  if rest and flavor() == "workspace" then
    rest = rest:gsub("%.json$", "")
  end
  for _, ext in ipairs(EXTENSIONS) do
    ext.route(M.lib, method, uri, rest)
  end
  if uri == "/ChunkedUploader.ashx" and method == "POST" then
    return upload_chunk()
  elseif uri == "/filehandler.ashx" or uri == "/Products/Files/HttpHandlers/filehandler.ashx" then
    return serve_file()
  elseif uri:match("^/__public/%d+$") then
    return serve_public(tonumber(uri:match("%d+")))
  end
  if not rest then
    return err(404, "Not found")
  end
  if rest == "authentication" then
    if method == "GET" then
      return ok(token_user(request_token()) ~= nil)
    end
    return method == "POST" and authenticate(false) or err(405, "Method not allowed")
  elseif rest == "authentication/logout" and method == "POST" then
    return logout()
  elseif rest:match("^authentication/%w+$") and method == "POST" then
    return authenticate(true)
  elseif rest == "people/@self" and method == "GET" then
    return me()
  elseif rest == "files/@my" and method == "GET" then
    return listing(MY_FOLDER)
  elseif rest:match("^files/%d+$") and method == "GET" then
    return listing(tonumber(rest:match("%d+")))
  elseif rest:match("^files/file/%d+$") and method == "GET" then
    return file_info(tonumber(rest:match("%d+")))
  elseif rest:match("^files/folder/%d+$") and method == "POST" then
    return create_folder(tonumber(rest:match("%d+")))
  elseif rest:match("^files/[%w@]+/upload$") and method == "POST" then
    return upload(tonumber(rest:match("^files/(%d+)")) or MY_FOLDER)
  elseif rest:match("^files/[%w@]+/upload/create_session$") and method == "POST" then
    return create_session(tonumber(rest:match("^files/(%d+)")) or MY_FOLDER)
  elseif rest == "people" and method == "GET" then
    return people()
  elseif rest == "emu/echo" then
    return echo()
  end
  local raw = RAW[rest:match("^emu/raw/([%w_]+)$") or ""]
  if raw then
    local sock = raw_socket()
    raw(sock)
    return ngx.exit(ngx.ERROR) -- close the connection, whatever was sent
  end
  local fault = FAULTS[rest:match("^emu/(%w+)$") or ""]
  if fault then
    return fault()
  end
  return err(404, "Not found")
end

return M
