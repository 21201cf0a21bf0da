-- Starts and stops the portal emulator (nginx + emulator/portal.lua) under a
-- private prefix on free loopback ports. Used by the specs, the demo and bench.
--   local portal = require("control").start()  -- portal.docspace, portal.workspace
--   portal:stop()
-- As a script: lua5.4 emulator/control.lua start|stop [PREFIX]
-- (PORTAL_WORKERS and PORTAL_BIG_MB in the environment set those options).
local M = {}

local NGINX = os.getenv("ONLYOFFICE_NGINX") or "/usr/sbin/nginx"

local function here()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/emulator/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then
    local pwd = M.sh("pwd"):match("[^\n]+")
    dir = dir == "." and pwd or (pwd .. "/" .. dir)
  end
  return dir
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The specs' sanitizer run preloads ASan into Lua; the tools run from here
-- (nginx, curl, coreutils) must not inherit it.
local function clean(cmd)
  return "env -u LD_PRELOAD -u ASAN_OPTIONS sh -c " .. shell_quote(cmd)
end

--- Output of a shell command, run without the sanitizer preload.
function M.sh(cmd)
  local p = io.popen(clean(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function run(cmd)
  local ok, how, code = os.execute(clean(cmd))
  if type(ok) == "number" then -- Lua 5.1 returns the status alone
    return ok == 0
  end
  return ok == true and how == "exit" and code == 0
end

--- The whole content of a file, or nil when it cannot be opened.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("*a")
  f:close()
  return s
end

--- Writes a whole file.
function M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function render(template, vars)
  return (template:gsub("%${([%w_]+)}", function(k)
    return assert(vars[k], "no value for ${" .. k .. "}")
  end))
end

-- A test CA and a server certificate for localhost and 127.0.0.1 (EC keys: fast).
local function make_certificates(dir)
  local q = shell_quote(dir)
  assert(run("(mkdir -p " .. q .. " && cd " .. q .. " && "
    .. "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt "
    .. "-days 3 -subj /CN=onlyoffice-test-ca && "
    .. "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr "
    .. "-subj /CN=localhost && "
    .. "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
    .. "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt "
    .. "-days 3 -extfile san.ext && chmod 644 server.key) >/dev/null 2>&1"),
    "openssl could not make the test certificates")
end

local Portal = {}
Portal.__index = Portal

function Portal:stop()
  if self.stopped then
    return
  end
  self.stopped = true
  local pid = M.read_file(self.prefix .. "/nginx.pid")
  pid = pid and pid:match("%d+")
  if pid then
    -- The master is a daemon whose zombie waits for init to reap it: gone or
    -- zombie both mean stopped. TERM: the emulator keeps nothing worth a graceful quit.
    run("kill -TERM " .. pid .. " 2>/dev/null; for i in $(seq 500); do "
      .. "s=$(cut -d' ' -f3 /proc/" .. pid .. "/stat 2>/dev/null) || exit 0; "
      .. "[ \"$s\" = Z ] && exit 0; sleep 0.01; done; kill -KILL " .. pid .. " 2>/dev/null")
  end
  if not self.keep then
    run("rm -rf " .. shell_quote(self.prefix))
  end
end

--- Starts nginx; options: workers (default 1), prefix (default a new temporary folder),
--- big_mb (size of the generated file 999000), template (another nginx.conf with
--- ${PORT}, ${PORT2}, ${PREFIX}, ${ROOT}, ${WORKERS}) and vars (more ${...} values).
--- The result has url and url2 (the two ports), and docspace/workspace as aliases.
function M.start(opts)
  opts = opts or {}
  local root = here()
  local prefix = opts.prefix or M.sh("mktemp -d /tmp/onlyoffice-portal.XXXXXX"):match("%S+")
  local files, uploads = shell_quote(prefix .. "/files"), shell_quote(prefix .. "/uploads")
  -- nginx workers drop root for nobody: they must reach the prefix and write files.
  assert(run("mkdir -p " .. shell_quote(prefix .. "/tmp") .. " " .. files .. " " .. uploads
    .. " && chmod 755 " .. shell_quote(prefix) .. " && chmod 777 " .. files .. " " .. uploads),
    "cannot create " .. prefix)
  make_certificates(prefix .. "/tls")
  if opts.big_mb then -- file 999000: random bytes, for download benchmarks
    assert(run("head -c " .. math.floor(opts.big_mb) .. "M /dev/urandom > " .. shell_quote(prefix .. "/files/999000")))
  end
  local conf = opts.template or (root .. "/emulator/nginx.conf")
  local template = assert(M.read_file(conf), conf .. " is missing")
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  for _ = 1, 8 do
    local ds = math.random(20000, 59990)
    local ws, tls = ds + 1, ds + 2
    local vars = { PREFIX = prefix, ROOT = root, WORKERS = tostring(opts.workers or 1), PORT = tostring(ds),
      PORT2 = tostring(ws), PORT3 = tostring(tls) }
    for k, v in pairs(opts.vars or {}) do
      vars[k] = tostring(v)
    end
    M.write_file(prefix .. "/nginx.conf", render(template, vars))
    local cmd = table.concat({ NGINX, "-p", shell_quote(prefix .. "/"),
      "-c", shell_quote(prefix .. "/nginx.conf"),
      "-e", shell_quote(prefix .. "/error.log"), ">>", shell_quote(prefix .. "/start.log"), "2>&1" }, " ")
    if run(cmd) then
      return setmetatable({
        prefix = prefix, keep = opts.prefix ~= nil,
        url = "http://127.0.0.1:" .. ds, url2 = "http://127.0.0.1:" .. ws,
        https = "https://127.0.0.1:" .. tls, https_wrong_host = "https://127.0.0.2:" .. tls,
        cafile = prefix .. "/tls/ca.crt",
        docspace = "http://127.0.0.1:" .. ds, workspace = "http://127.0.0.1:" .. ws,
      }, Portal)
    end
    if not (M.read_file(prefix .. "/start.log") or ""):find("in use", 1, true) then
      break -- only a taken port is worth another try
    end
  end
  error("the portal emulator did not start:\n" .. (M.read_file(prefix .. "/start.log") or "")
    .. (M.read_file(prefix .. "/error.log") or ""))
end

if arg and arg[0] and arg[0]:match("control%.lua$") and not package.loaded["control"] then
  local command, prefix = arg[1], arg[2]
  if command == "start" then
    local p = M.start({ prefix = prefix, workers = tonumber(os.getenv("PORTAL_WORKERS")),
      big_mb = tonumber(os.getenv("PORTAL_BIG_MB")) })
    print("docspace  " .. p.docspace)
    print("workspace " .. p.workspace)
    print("https     " .. p.https)
    print("prefix    " .. p.prefix)
  elseif command == "stop" and prefix then
    setmetatable({ prefix = prefix, keep = true }, Portal):stop()
  else
    io.stderr:write("usage: control.lua start [PREFIX] | stop PREFIX\n")
    os.exit(2)
  end
end

return M
