-- Which chunked upload flow a portal takes, and the DocSpace 3.7.1+ one:
-- POST files/{folder}/session opens it, numbered chunks go to
-- .../session/{id}/upload?chunkNumber=N, PUT .../finalize makes the file, and
-- DELETE .../session/{id} drops the session when anything fails after it opened.
-- Older portals (and Workspace) take the legacy flow in upload.lua.
local json = require "onlyoffice.json"

local M = {}

M.FLOWS = { session = true, legacy = true }
local FIRST_SESSION_VERSION = { 3, 7, 1 }

--- The first three numbers of a version string ("3.7.1.1234", "3.7.1",
--- "v3.7"), missing ones 0; nil when it holds none.
function M.parse_version(text)
  if type(text) ~= "string" then
    return nil
  end
  local major, rest = text:match("(%d+)%.(%d[%d.]*)")
  if not major then
    return nil
  end
  local v = { tonumber(major) }
  for n in rest:gmatch("%d+") do
    v[#v + 1] = tonumber(n)
  end
  return { v[1], v[2] or 0, v[3] or 0 }
end

local function at_least(v, want)
  for i = 1, 3 do
    if v[i] ~= want[i] then
      return v[i] > want[i]
    end
  end
  return true
end

--- "session" for a DocSpace version string from 3.7.1 on, else "legacy".
function M.for_version(text)
  local v = M.parse_version(text)
  return v and at_least(v, FIRST_SESSION_VERSION) and "session" or "legacy"
end

--- The flow's functions bound to the pipeline: detect(s), upload(s, ...).
function M.install(P, send_chunks)
  local F = {}
  --- The session's flow, asked of the portal once per session (the answer,
  --- whatever it was, is kept in the session's state): the version route is
  --- anonymous, so no token goes with it; any failure means legacy.
  function F.detect(s)
    local st = P.state(s)
    if st.upload_flow then
      return st.upload_flow
    end
    local data = P.api(s, { method = "GET", target = "/api/2.0/settings/version/build", auth = false })
    local version = type(data) == "table" and (data.docSpace or data.DocSpace or data.docspace)
    local flow = M.for_version(version)
    if P.is_open(s) then -- a closed session's answer says nothing about the portal
      st.upload_flow = flow
    end
    return flow
  end

  local function opened(s, folder, src)
    local base = "/api/2.0/files/" .. folder .. "/session"
    local data, err, detail = P.api(s, { method = "POST", target = base,
      body = json.encode({ fileName = src.name, fileSize = src.size }) })
    if data == nil then
      return nil, err, detail
    end
    -- Not enveloped in success/data, as the legacy answer is; take either.
    local session = type(data) == "table" and (type(data.data) == "table" and data.data or data)
    local id = type(session) == "table" and session.id
    if type(id) == "number" then
      id = string.format("%.0f", id)
    end
    if type(id) ~= "string" or not id:match("^[%w%-_.]+$") or data.success == false then
      return nil, "the portal did not open an upload session", { kind = "http", method = "POST", path = base }
    end
    return base .. "/" .. id
  end

  -- A numbered chunk's answer is the enveloped session; a refusal is an error status.
  local function chunk_reply(s, req, final, index)
    local data, err, detail = P.shape(s, req, final)
    if data ~= nil and type(data) == "table" and data.success == false then
      data, err, detail = nil, type(data.message) == "string" and P.cleaner(s)(data.message) or "no message",
        { kind = "http", status = final.status, method = req.method, path = req.shown or req.target }
    end
    if data == nil then
      detail.chunk = index
      if detail.kind == "http" then -- detail.path names the request
        err = "upload failed at chunk " .. index .. ": " .. err:gsub("^%u+ /[^ ]*: ", "")
      end
      return nil, err, detail
    end
    return data
  end

  -- finalize answers {id, folderId, version, title, uploaded, file = FileDto}:
  -- the file entry is what the legacy flow's last chunk gives.
  local function finalized(s, target)
    local data, err, detail = P.api(s, { method = "PUT", target = target .. "/finalize" })
    if data == nil then
      return nil, err, detail
    end
    if type(data) ~= "table" or data.uploaded == false then
      return nil, "the portal did not make the file of the upload session",
        { kind = "http", method = "PUT", path = target .. "/finalize" }
    end
    return type(data.file) == "table" and data.file or data
  end

  local function chunks_then_finalize(s, target, src, progress, chunk_size)
    local ok, err, detail = send_chunks(s, src, progress, chunk_size, function(index)
      return target .. "/upload?chunkNumber=" .. index, nil
    end, chunk_reply)
    if ok == nil then
      return nil, err, detail
    end
    return finalized(s, target)
  end

  local function abort(s, target)
    P.one(s, { method = "DELETE", target = target, relogin = false })
  end

  --- The session flow: the file entry | nil, message, detail. A session that
  --- opened is aborted on any failure, also an error a callback raised.
  function F.upload(s, folder, src, progress, chunk_size)
    local target, err, detail = opened(s, folder, src)
    if not target then
      return nil, err, detail
    end
    local ok, entry, ferr, fdetail = pcall(chunks_then_finalize, s, target, src, progress, chunk_size)
    if not ok or entry == nil then
      abort(s, target)
    end
    if not ok then
      error(entry, 0) -- already located by whoever raised it
    end
    return entry, ferr, fdetail
  end

  return F
end

return M
