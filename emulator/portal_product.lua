-- onlyoffice.emulator's portal (lua/onlyoffice/emulator.lua): when the prefix
-- holds product.json, its users replace the built-in ones, its documents fill
-- "My documents" (with what is uploaded and created later), faults and delays
-- can be injected on a route, and every request is logged (method, path, query)
-- for the caller's assertions. Without product.json this file does nothing.
local M = {}

local config -- product.json, decoded, or false

local function load_config(lib)
  local text = lib.read_file(ngx.var.portal_prefix .. "/product.json")
  if not text then
    return false
  end
  return assert(lib.cjson.decode(text), "product.json is not JSON")
end

-- Query values whose names hint at a secret never reach the log: any name
-- that holds one of these (access_token, apikey, client_secret, signature ...).
local SECRET = { "pass", "token", "code", "secret", "key", "auth", "sig", "cred" }

local function secret_name(name)
  name = tostring(name):lower()
  for _, part in ipairs(SECRET) do
    if name:find(part, 1, true) then
      return true
    end
  end
  return false
end

local function log_request(lib)
  local query = {}
  for k, v in pairs(ngx.req.get_uri_args()) do
    query[k] = secret_name(k) and "[redacted]" or v
  end
  -- The two-factor code travels in the path: authentication/<code>.
  local path = ngx.var.uri:gsub("^(/api/2%.0/authentication/)[^/]+$", function(prefix)
    return ngx.var.uri == prefix .. "logout" and ngx.var.uri or (prefix .. "[redacted]")
  end)
  lib.dict:rpush("product:requests", lib.cjson.encode({ method = ngx.req.get_method(), path = path,
    query = query }))
end

function M.install(lib)
  config = load_config(lib)
  if not config then
    return
  end
  if config.users then -- the same table the emulator reads: emptied and refilled
    for login in pairs(lib.USERS) do
      lib.USERS[login] = nil
    end
    for login, user in pairs(config.users) do
      lib.USERS[login:lower()] = user
    end
  end
  local C = lib.CONTROL
  -- ?path=&method=&status=&times=&delay_ms=: the next `times` requests (0: all) on path
  -- wait delay_ms, then answer status (0: as usual). status=0&times=0&delay_ms=0 clears.
  function C.fault()
    local path = ngx.unescape_uri(ngx.var.arg_path or "")
    lib.dict:set("product:fault " .. path, lib.cjson.encode({ method = ngx.var.arg_method,
      status = tonumber(ngx.var.arg_status) or 0, times = tonumber(ngx.var.arg_times) or 1,
      delay_ms = tonumber(ngx.var.arg_delay_ms) or 0 }))
    lib.dict:delete("product:faulthits " .. path)
    return lib.json_send(200, { ok = true })
  end
  function C.requests()
    local list = {}
    for i = 0, (lib.dict:llen("product:requests") or 0) - 1 do
      list[#list + 1] = lib.dict:lpop("product:requests")
      lib.dict:rpush("product:requests", list[#list])
      list[#list] = lib.cjson.decode(list[#list])
      list[#list].n = i + 1
    end
    return lib.json_send(200, { requests = lib.array(list) })
  end
end

-- The caller's documents and folders go into the shared dict once (and again after /__emu/reset).
local function seed(lib)
  if not lib.dict:add("product:seeded", true) then
    return
  end
  for _, f in ipairs(config.folders or {}) do
    lib.dict:set("product:folder:" .. f.id, lib.cjson.encode({ title = f.title, parentId = f.parentId }))
  end
  for _, f in ipairs(config.files or {}) do
    lib.dict:set("file:" .. f.id, lib.cjson.encode({ title = f.title, size = f.size, folderId = f.folderId }))
  end
end

local function fault(lib, method)
  local uri = ngx.var.uri:gsub("%.json$", "")
  local raw = lib.dict:get("product:fault " .. uri)
  if not raw then
    return
  end
  local f = lib.cjson.decode(raw)
  if f.method and f.method ~= "" and f.method ~= method then
    return
  end
  local hits = lib.dict:incr("product:faulthits " .. uri, 1, 0)
  if f.times > 0 and hits > f.times then
    return
  end
  if f.delay_ms > 0 then
    ngx.sleep(f.delay_ms / 1000)
  end
  if f.status > 0 then
    return lib.err(f.status, "Injected fault")
  end
end

-- Entries of a folder, folders first, each sorted by id.
local function children(lib, folder)
  local files, folders = {}, {}
  for _, key in ipairs(lib.dict:get_keys(0)) do
    local kind, id = key:match("^(%a+:?%a*):(%d+)$")
    local meta = (kind == "file" or kind == "product:folder") and lib.cjson.decode(lib.dict:get(key))
    if kind == "file" and meta.folderId == folder then
      files[#files + 1] = lib.file_entry(tonumber(id), meta)
    elseif kind == "product:folder" and meta.parentId == folder then
      folders[#folders + 1] = lib.folder_entry(tonumber(id), meta.title, meta.parentId)
    end
  end
  local by_id = function(a, b) return a.id < b.id end
  table.sort(files, by_id)
  table.sort(folders, by_id)
  return files, folders
end

local function folder_meta(lib, id)
  if id == lib.MY_FOLDER then
    return { title = "My documents", parentId = 0 }
  end
  local raw = lib.dict:get("product:folder:" .. id)
  return raw and lib.cjson.decode(raw)
end

local function listing(lib, id)
  lib.authorized()
  local meta = folder_meta(lib, id)
  if not meta then
    return lib.err(404, "The required folder was not found")
  end
  local files, folders = children(lib, id)
  local q = ngx.req.get_uri_args()
  local start, count = math.max(tonumber(q.startIndex) or 0, 0), tonumber(q.count) or 100
  local all = {}
  for _, e in ipairs(folders) do all[#all + 1] = e end
  for _, e in ipairs(files) do all[#all + 1] = e end
  local page_files, page_folders = {}, {}
  for i = start + 1, math.min(start + count, #all) do
    local e = all[i]
    local list = e.fileEntryType == 1 and page_folders or page_files
    list[#list + 1] = e
  end
  local current = lib.folder_entry(id, meta.title, meta.parentId)
  current.filesCount, current.foldersCount = #files, #folders
  local shown = #page_files + #page_folders
  local content = { files = lib.array(page_files), folders = lib.array(page_folders), current = current,
    pathParts = lib.array({ { id = id, title = meta.title } }), new = 0 }
  if lib.flavor() == "docspace" then
    content.startIndex, content.count, content.total = start, shown, #all
    return lib.ok(content, { count = shown })
  end
  return lib.ok(content, { count = shown, startIndex = start > 0 and start or nil, total = #all,
    nextIndex = start + shown < #all and start + shown or nil })
end

local function create_folder(lib, parent)
  lib.authorized()
  local f = lib.body_fields() or {}
  if type(f.title) ~= "string" or f.title == "" then
    return lib.err(400, "Title is empty")
  end
  if not folder_meta(lib, parent) then
    return lib.err(404, "The required folder was not found")
  end
  local id = lib.dict:incr("product:next_folder", 1, 400000)
  lib.dict:set("product:folder:" .. id, lib.cjson.encode({ title = f.title, parentId = parent }))
  return lib.ok(lib.folder_entry(id, f.title, parent))
end

function M.route(lib, method, _, rest)
  if not config then
    return
  end
  seed(lib)
  fault(lib, ngx.req.get_method())
  if rest == "files/@my" and method == "GET" then
    return listing(lib, lib.MY_FOLDER)
  elseif rest and rest:match("^files/%d+$") and method == "GET" then
    return listing(lib, tonumber(rest:match("%d+")))
  elseif rest and rest:match("^files/folder/%d+$") and method == "POST" then
    return create_folder(lib, tonumber(rest:match("%d+")))
  end
end

function M.log(lib)
  if config and not ngx.var.uri:match("^/__emu/") then
    log_request(lib)
  end
end

return M
