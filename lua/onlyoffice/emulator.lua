--- onlyoffice.emulator: the project's portal emulator (nginx + emulator/portal.lua),
--- started for the tests of scripts that use this module, as moto or LocalStack
--- serve AWS users.
---   local portal = require("onlyoffice.emulator").start{ flavor = "docspace",
---     users = { ["me@example.com"] = { password = "pw", name = "Me" } },
---     files = { { title = "a.docx", content = "..." } } }
---   -- portal.url, portal:revoke(user), portal:fault(route, opts), portal:requests(), portal:stop()
local cjson = require "cjson"

local M = {}

local NGINX = os.getenv("ONLYOFFICE_NGINX") or "/usr/sbin/nginx"
local LUA_MODULE = "/usr/lib/nginx/modules/ngx_http_lua_module.so"

local function exists(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
  end
  return f ~= nil
end

-- The emulator's files: next to this module where the rock installed them
-- (onlyoffice/emulator/), or in the checkout's emulator/ (this file is lua/onlyoffice/).
local function emulator_dir()
  local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
  for _, dir in ipairs({ here .. "/emulator", here .. "/../../emulator" }) do
    if exists(dir .. "/portal.lua") and exists(dir .. "/control.lua") and exists(dir .. "/nginx.conf") then
      return dir
    end
  end
  error("onlyoffice.emulator: the emulator's files are missing (looked in " .. here .. "/emulator and "
    .. here .. "/../../emulator)", 3)
end

local function requirements()
  if not exists(NGINX) then
    error("onlyoffice.emulator needs nginx (" .. NGINX .. " is missing): "
      .. "apt-get install nginx libnginx-mod-http-lua", 3)
  end
  if not exists(LUA_MODULE) then
    error("onlyoffice.emulator needs nginx's Lua module (" .. LUA_MODULE .. " is missing): "
      .. "apt-get install libnginx-mod-http-lua", 3)
  end
end

local control -- emulator/control.lua, loaded once
local function get_control()
  if not control then
    control = assert(loadfile(emulator_dir() .. "/control.lua"))()
  end
  return control
end

local codec = cjson.new()

local function check_args(opts)
  if type(opts) ~= "table" then
    error("onlyoffice.emulator.start: expected a table of options, got " .. type(opts), 3)
  end
  local known = { flavor = true, users = true, files = true, workers = true }
  for k in pairs(opts) do
    if not known[k] then
      error("onlyoffice.emulator.start: unknown option " .. tostring(k), 3)
    end
  end
  if opts.flavor ~= nil and opts.flavor ~= "docspace" and opts.flavor ~= "workspace" then
    error('onlyoffice.emulator.start: flavor must be "docspace" or "workspace"', 3)
  end
  for login, u in pairs(opts.users or {}) do
    if type(login) ~= "string" or type(u) ~= "table" or type(u.password) ~= "string" then
      error("onlyoffice.emulator.start: users maps an email to { password = <string>, ... }", 3)
    end
  end
  for i, f in ipairs(opts.files or {}) do
    if type(f) ~= "table" or type(f.title) ~= "string" or type(f.content or "") ~= "string" then
      error("onlyoffice.emulator.start: files[" .. i .. "] must be { title = <string>, content = <string> }", 3)
    end
  end
end

local MY_FOLDER, FIRST_FILE, FIRST_FOLDER = 1001, 200001, 3001

-- product.json for emulator/portal_product.lua, and each document's bytes in files/<id>.
local function setup(opts)
  return function(prefix)
    local config = { files = {}, folders = {} }
    if opts.users then
      config.users = {}
      local n = 0
      for login, u in pairs(opts.users) do
        n = n + 1
        config.users[login:lower()] = { password = u.password, name = u.name or login:match("^[^@]*"),
          id = u.id or ("5e3c0000-0000-4000-8000-%012d"):format(n), tfa = u.tfa and true or nil,
          sms = u.sms and true or nil, code = u.code and tostring(u.code) or nil, phone = u.phone,
          admin = u.admin, owner = u.owner }
      end
    end
    local folders = {}
    for i, f in ipairs(opts.files or {}) do
      local folder = MY_FOLDER
      if f.folder then
        if not folders[f.folder] then
          folders[f.folder] = FIRST_FOLDER + #config.folders
          config.folders[#config.folders + 1] = { id = folders[f.folder], title = f.folder, parentId = MY_FOLDER }
        end
        folder = folders[f.folder]
      end
      local content = f.content or ""
      local id = FIRST_FILE + i - 1
      get_control().write_file(prefix .. "/files/" .. id, content)
      config.files[i] = { id = id, title = f.title, size = #content, folderId = folder }
    end
    if #config.folders == 0 then
      config.folders = nil
    end
    get_control().write_file(prefix .. "/product.json", codec.encode(config))
  end
end

local Portal = {}
Portal.__index = Portal

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- A control route of the emulator (/__emu/<name>?query), its JSON answer decoded.
local function call(self, name, query)
  if self.stopped then
    error("onlyoffice.emulator: this portal was stopped", 3)
  end
  local parts = {}
  for k, v in pairs(query or {}) do
    parts[#parts + 1] = k .. "=" .. escape(v)
  end
  local out = get_control().sh("curl -s -m 30 " .. q(self.url .. "/__emu/" .. name .. "?" .. table.concat(parts, "&")))
  local ok, doc = pcall(codec.decode, out)
  if not ok or type(doc) ~= "table" then
    error("onlyoffice.emulator: /__emu/" .. name .. " answered " .. out:sub(1, 200), 3)
  end
  return doc
end

--- Invalidates every token the user has (as an administrator's "log out everywhere").
function Portal:revoke(user)
  if type(user) ~= "string" then
    error("portal:revoke(user): user must be the login (an email)", 2)
  end
  call(self, "revoke", { user = user:lower() })
end

--- The next opts.times (default 1; 0: every) requests on route (a path, "files/@my" or
--- "/api/2.0/files/@my", of opts.method if given) wait opts.delay_ms, then answer
--- opts.status (none: the usual answer after the delay). portal:fault(route) clears it.
function Portal:fault(route, opts)
  if type(route) ~= "string" or (opts ~= nil and type(opts) ~= "table") then
    error("portal:fault(route, { status =, times =, delay_ms =, method = })", 2)
  end
  opts = opts or { times = 0 }
  local path = route:sub(1, 1) == "/" and route or ("/api/2.0/" .. route)
  call(self, "fault", { path = path, status = opts.status or 0, times = opts.times or 1,
    delay_ms = opts.delay_ms or 0, method = opts.method and opts.method:upper() or "" })
end

--- The requests the portal received, oldest first: { method =, path =, query = { ... } }.
--- Bodies are not kept, so passwords never are; secret-like query values are redacted.
function Portal:requests()
  local list = call(self, "requests").requests
  for _, r in ipairs(list) do
    r.n = nil
    if next(r.query) == nil then
      r.query = {}
    end
  end
  return list
end

--- Stops nginx and removes its files (also when the Lua state closes).
function Portal:stop()
  if not self.stopped then
    self.stopped = true
    self.server:stop()
  end
end

--- Starts a portal; see the README's "Testing your scripts with the emulator".
function M.start(opts)
  opts = opts or {}
  check_args(opts)
  requirements()
  local server = get_control().start({ setup = setup(opts), workers = opts.workers })
  local flavor = opts.flavor or "docspace"
  return setmetatable({ server = server, url = server[flavor], flavor = flavor, prefix = server.prefix }, Portal)
end

M.packages = { "nginx", "libnginx-mod-http-lua" }

return M
