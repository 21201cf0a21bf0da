-- What the file handler (filehandler.ashx?action=download&fileid=) does beyond
-- serving the stored bytes (shared/reference/portal-api-docspace3.md section 4):
-- - outputtype=.pdf converts on the fly. The "converted" file is the original
--   behind a fixed header ("%PDF-1.7\n%emulated conversion of file <id>\n"), so
--   specs can tell; a type it cannot convert to (.exe, or "pdf" without its
--   dot) gets the original, as the portal does.
-- - Range and If-Range: served by nginx's static module (/__files/), which
--   honours both and sends a strong ETag ("<mtime>-<size>" in hex) and Last-Modified.
-- Controls for the specs:
--   /__emu/breakoff?id=&at=   the next download of file id sends `at` bytes of
--                             its body (of the range asked for), then breaks off
--   /__emu/norange?id=&on=0|1 the handler ignores Range for file id (200, whole)
--   /__emu/rewrite?id=        new bytes of the same size, and a new mtime (so a new ETag)
local M = {}

local CONVERTIBLE = { [".pdf"] = true }
local PDF_HEAD = "%%PDF-1.7\n%%emulated conversion of file %d\n"

local function stored_path(lib, name)
  return lib.files_dir() .. name
end

-- The name (under files/) of what to send for id: the file, or its conversion.
local function converted(lib, id)
  local ext = ngx.var.arg_outputtype and ngx.unescape_uri(ngx.var.arg_outputtype)
  if not ext or not CONVERTIBLE[ext] then
    return tostring(id)
  end
  local name = id .. ext
  local original = lib.read_file(stored_path(lib, id))
  local want = PDF_HEAD:format(id) .. original
  if lib.read_file(stored_path(lib, name)) ~= want then -- made again after a rewrite
    lib.write_file(stored_path(lib, name), want)
  end
  return name
end

-- Sends `at` bytes of what nginx would send for name (a range of it when
-- asked, with the same validators), then drops the connection.
local function break_off(name, at)
  local res = ngx.location.capture("/__files/" .. name)
  local body = res.body or ""
  local etag = res.header["ETag"]
  local from = tonumber((ngx.var.http_range or ""):match("^bytes=(%d+)%-$"))
  local if_range = ngx.var.http_if_range
  if from and (not if_range or if_range == etag) and from < #body then
    ngx.status = 206
    ngx.header["Content-Range"] = ("bytes %d-%d/%d"):format(from, #body - 1, #body)
    body = body:sub(from + 1)
  else
    ngx.status = 200
  end
  ngx.header["Content-Type"] = "application/octet-stream"
  ngx.header["Content-Length"] = #body
  ngx.header["ETag"] = etag
  ngx.header["Last-Modified"] = res.header["Last-Modified"]
  ngx.print(body:sub(1, at))
  ngx.flush(true)
  return ngx.exit(ngx.ERROR)
end

local function deliver(lib, id)
  local name = converted(lib, id)
  if lib.dict:get("norange:" .. id) then
    ngx.req.clear_header("Range")
    ngx.req.clear_header("If-Range")
  end
  local at = lib.dict:get("breakoff:" .. id)
  if at then
    lib.dict:delete("breakoff:" .. id)
    return break_off(name, at)
  end
  return ngx.exec("/__files/" .. name)
end

function M.route(lib, _, uri)
  if uri == "/filehandler.ashx" or uri == "/Products/Files/HttpHandlers/filehandler.ashx" then
    return lib.serve_file(function(id) return deliver(lib, id) end)
  end
end

local function control_breakoff(lib)
  lib.dict:set("breakoff:" .. (tonumber(ngx.var.arg_id) or 0), tonumber(ngx.var.arg_at) or 0)
  return lib.json_send(200, { ok = true })
end

local function control_norange(lib)
  lib.dict:set("norange:" .. (tonumber(ngx.var.arg_id) or 0), ngx.var.arg_on ~= "0" or nil)
  return lib.json_send(200, { ok = true })
end

-- Every byte changed, the size kept, the mtime moved on: only the validators tell.
local function control_rewrite(lib)
  local id = tonumber(ngx.var.arg_id) or 0
  local path = stored_path(lib, id)
  local data = lib.read_file(path)
  if not data then
    return lib.err(404, "no such stored file")
  end
  lib.write_file(path, (data:gsub(".", function(c) return string.char((c:byte() + 1) % 256) end)))
  local bump = lib.dict:incr("rewrite_bump", 1, 0)
  os.execute(("touch -d @%d '%s'"):format(os.time() + 100 * bump, path))
  return lib.json_send(200, { ok = true })
end

function M.install(lib)
  lib.CONTROL.breakoff = function() return control_breakoff(lib) end
  lib.CONTROL.norange = function() return control_norange(lib) end
  lib.CONTROL.rewrite = function() return control_rewrite(lib) end
end

return M
