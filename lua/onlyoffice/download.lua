-- s:download(file_id, target [, options]): the file's bytes streamed to a path
-- (atomically) or to an ltn12 sink, never held in memory.
local args = require "onlyoffice.args"
local upload = require "onlyoffice.upload"
local resume = require "onlyoffice.resume"
local check_id, monotonic = upload.check_id, upload.monotonic

local M = {}

local OPTIONS = { progress = "function", durable = "boolean", timeout = "number", format = "string",
  resume = "boolean" }

-- options.format: an extension of letters and digits, asked for with its dot.
local function output_type(format, level)
  local ext = format:match("^%.?(%w+)$")
  if not ext then
    error('option "format" must be a file extension of letters and digits, such as "pdf", got "'
      .. format .. '"', level + 1)
  end
  return "." .. ext:lower()
end

local function with_query(url, name, value)
  return url .. (url:find("?", 1, true) and "&" or "?") .. name .. "=" .. value
end

-- Tells an ltn12 sink that the body ended (nil) or failed (nil, message); a
-- sink that then answers nil, err (a failed flush) fails the download.
local function end_sink(sink, message)
  local ok, err = sink(nil, message)
  if message == nil and (ok == false or (ok == nil and err ~= nil)) then
    return nil, "the sink failed at the end: " .. tostring(err), { kind = "sink" }
  end
  return true
end

function M.install(methods, P)
  -- Streams what the portal (or a storage origin it redirects to) answers to
  -- GET `from` into target: bytes | nil, message, detail.
  local function fetch(s, from, target, opts, again)
    local progress, last = monotonic(opts.progress)
    local req = { method = "GET", target = from, outside = true, progress = progress, timeout = opts.timeout }
    local held = 0
    if type(target) == "string" then
      req.file, req.durable = target, opts.durable
      held = opts.resume and resume.prepare(req, target) or 0
    else
      req.sink = target
    end
    local final, sent = P.one(s, req)
    local refused, kerr
    if opts.resume then
      refused, kerr = resume.refused(final, target, held, opts.durable)
    end
    if refused == "done" then
      if last then
        last(held)
      end
      return held
    elseif refused == "again" and not again then
      return fetch(s, from, target, opts, true)
    elseif kerr then
      return nil, "cannot write " .. target .. ": " .. kerr, { kind = "io", method = "GET", path = sent.shown }
    end
    local _, message, fdetail = P.failure(s, sent, final)
    if message then
      if fdetail.kind == "io" then
        message = "cannot write " .. (type(target) == "string" and target or "the sink") .. ": " .. message
      elseif fdetail.kind == "sink" then
        message = "the sink stopped the download: " .. message
      end
      if opts.resume then
        fdetail.part = resume.size(target .. ".part") and target .. ".part" or nil
      end
      return nil, message, fdetail
    end
    if opts.resume then -- the whole file, not only what this attempt brought
      final.bytes = resume.size(target) or final.bytes
    end
    if type(target) == "function" then
      local ok, serr, sdetail = end_sink(target, nil)
      if not ok then
        return nil, serr, sdetail
      end
    end
    if last then
      last(final.bytes)
    end
    return final.bytes
  end

  local function transfer(s, id, target, opts)
    local file, err, detail = P.api(s, { method = "GET", target = "/api/2.0/files/file/" .. id })
    if file == nil then
      return nil, err, detail
    end
    local url = type(file) == "table" and type(file.viewUrl) == "string" and file.viewUrl
      or ("/filehandler.ashx?action=download&fileid=" .. id)
    if opts.format then -- the portal converts on the fly (a type it cannot convert comes as it is)
      url = with_query(url, "outputtype", opts.format)
    end
    local from = P.on_portal(s, url)
    if not from then
      return nil, "the file's download URL is unusable", { kind = "http" }
    end
    return fetch(s, from, target, opts)
  end

  -- A sink hears of every failure, whenever it came (ltn12: nil, message).
  local function with_sink(target, bytes, err, detail)
    if bytes == nil and type(target) == "function" and (detail == nil or detail.kind ~= "sink" or
      not err:find("^the sink failed at the end")) then
      end_sink(target, err)
    end
    return bytes, err, detail
  end

  local function run(s, id, target, opts)
    return with_sink(target, transfer(s, id, target, opts))
  end

  --- Inside a public call: streams GET `from` (a URL the portal named) to
  --- target, a path or an ltn12 sink, as s:download does.
  function P.stream(s, url, target, opts)
    local from = P.on_portal(s, url)
    if not from then
      return with_sink(target, nil, "the download URL is unusable", { kind = "http" })
    end
    return with_sink(target, fetch(s, from, target, opts))
  end

  --- s:download(file_id, target [, options]) -> bytes | nil, message, detail
  function methods.download(s, file_id, target, opts)
    local id = check_id(file_id, "file id", 2)
    if type(target) ~= "string" and type(target) ~= "function" then
      error("target must be a file path or a function, got " .. type(target), 2)
    end
    opts = args.call_options(opts, OPTIONS, 2)
    if opts.timeout ~= nil then
      args.ranges({ timeout = opts.timeout }, 2)
    end
    if opts.resume and type(target) ~= "string" then
      error('option "resume" needs a file path target: a sink cannot be rewound or appended to', 2)
    end
    if opts.format then
      opts.format = output_type(opts.format, 2)
    end
    local bytes, err, detail = P.call(s, run, id, target, opts)
    return bytes, err, detail -- not a tail call: P.call counts this frame
  end
end

return M
