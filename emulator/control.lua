-- Starts and stops the portal emulator (nginx + emulator/portal.lua) under a
-- private prefix on free loopback ports. Used by the specs, the demo and bench.
--   local portal = require("control").start()  -- portal.docspace, portal.workspace
--   portal:stop()
-- As a script: lua5.4 emulator/control.lua start|stop [PREFIX]
-- (PORTAL_WORKERS and PORTAL_BIG_MB in the environment set those options).
-- With ONLYOFFICE_RUN_TAG=TAG, new prefixes are /tmp/onlyoffice-portal.TAG.XXXXXX,
-- so that whoever set the tag (./run) can find and stop what a crashed run left.
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
    .. "-days 3 -extfile san.ext && chmod 644 server.key && "
    -- A client certificate for the mutual-TLS server, its key also encrypted
    -- (passphrase client-key-pass), and the CA as a hashed directory (capath).
    .. "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr "
    .. "-subj /CN=onlyoffice-test-client && "
    .. "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
    .. "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt "
    .. "-days 3 -extfile client.ext && "
    .. "openssl pkey -in client.key -aes256 -passout pass:client-key-pass -out client-encrypted.key && "
    .. "mkdir capath && cp ca.crt capath/ && openssl rehash capath) >/dev/null 2>&1"),
    "openssl could not make the test certificates")
end

local Portal = {}
Portal.__index = Portal

-- Portals started here and not stopped yet: M.stop_all() stops them.
local live = {}

-- Every process of a prefix holds a file in it open (at least the error log):
-- masters and workers alike, also a master that has not written its pid file yet
-- and the orphaned workers of a KILLed master. TERM first (the emulator keeps
-- nothing worth a graceful quit), KILL what is left after 5 s. Zombies hold no
-- files: a daemon's zombie waits for init, which may never reap it.
local function stop_processes(prefix)
  local pattern = shell_quote(prefix:gsub("[%*%?%[%]\\]", "\\%0") .. "/*")
  assert(run("holders() { find /proc/[0-9]*/fd -maxdepth 1 -lname " .. pattern
    .. " 2>/dev/null | cut -d/ -f3 | sort -u; }; "
    .. "p=$(holders); [ -n \"$p\" ] || exit 0; kill -TERM $p 2>/dev/null; "
    .. "for i in $(seq 500); do p=$(holders); [ -n \"$p\" ] || exit 0; sleep 0.01; done; "
    .. "kill -KILL $p 2>/dev/null; exit 0"))
end

function Portal:stop()
  live[self] = nil
  if self.stopped then
    return
  end
  self.stopped = true
  stop_processes(self.prefix)
  if not self.keep then
    run("rm -rf " .. shell_quote(self.prefix))
  end
end

--- Stops every portal this process started and has not stopped, such as those of
--- a spec that failed between start and stop (spec/support/cleanup.lua).
function M.stop_all()
  for portal in pairs(live) do
    portal:stop()
  end
end

-- And when Lua closes this state (busted ends with os.exit(code, true)), or drops
-- this copy of the module (busted's insulation unloads it after each spec file
-- that loaded it), the same: a plain `busted` run leaves no nginx either. Only
-- userdata have finalizers in Lua 5.1 and LuaJIT.
local function finalizer()
  if newproxy then
    local proxy = newproxy(true)
    getmetatable(proxy).__gc = M.stop_all
    return proxy
  end
  return setmetatable({}, { __gc = M.stop_all })
end
M._stop_all_at_close = finalizer()

-- Where start checks that nginx serves: in the emulator's control namespace,
-- which portal.lua keeps out of its request counts (an unknown name there is a
-- 404 from portal.lua, so the answer proves the workers loaded it).
local READY = "/__emu/ready"

-- The HTTP status of GET url (0: no answer within 10 s).
local function status_of(url)
  return tonumber(M.sh("curl -s -o /dev/null -m 10 -w '%{http_code}' " .. shell_quote(url)):match("%d+")) or 0
end

local function absolute(path)
  if path:sub(1, 1) == "/" then
    return path
  end
  return M.sh("pwd"):match("[^\n]+") .. "/" .. path
end

-- Whom nginx's workers run as. The nginx master drops root for nobody unless told
-- otherwise, and nobody cannot enter a checkout in a private home (a clone in
-- /root, mode 700): it would fail every request with HTTP 500 (portal.lua, or in
-- spec/support/app.conf the module's lua/ files and build/*.so, unreadable). So
-- a root caller keeps its workers as root: the emulator listens on loopback only
-- and is a test fixture. Copying the files into the world-readable prefix instead
-- would have to track everything each template reads, and a stale copy could
-- pass for the checkout. Other callers need nothing: nginx cannot switch users
-- for them, so the workers are the caller, who can read the checkout.
local user_directive
local function worker_user()
  if not user_directive then
    user_directive = M.sh("id -u"):match("%d+") ~= "0" and ""
      or ("user " .. M.sh("id -un"):match("%S+") .. " " .. M.sh("id -gn"):match("%S+") .. ";")
  end
  return user_directive
end

-- A first port for the three the emulator listens on. Below the kernel's range
-- for outgoing connections: a client socket in TIME_WAIT (the specs leave
-- thousands) holds its port against bind() for a minute, and nginx tries a
-- taken port for 2.5 s before giving up; a spec file has failed at setup with
-- 8 ports in a row taken. Drawn from /dev/urandom, not math.random: seeding
-- that here would reset the specs' own sequence.
local function random_port()
  local first, last = 20000, 59990
  local low = tonumber((M.read_file("/proc/sys/net/ipv4/ip_local_port_range") or ""):match("%d+"))
  if low and low > first + 1000 then
    last = math.min(last, low - 3)
  end
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(4)
  f:close()
  local n = 0
  for i = 1, #bytes do
    n = n * 256 + bytes:byte(i)
  end
  return first + n % (last - first + 1)
end

local function new_prefix()
  local tag = (os.getenv("ONLYOFFICE_RUN_TAG") or ""):gsub("[^%w_-]", "")
  return assert(M.sh("mktemp -d /tmp/onlyoffice-portal." .. (tag ~= "" and tag .. "." or "") .. "XXXXXX")
    :match("%S+"), "mktemp failed")
end

local function logs(prefix)
  return (M.read_file(prefix .. "/start.log") or "") .. (M.read_file(prefix .. "/error.log") or "")
end

-- Fills in portal (its prefix is set) with a running nginx, or raises.
local function launch(portal, opts, root)
  local prefix = portal.prefix
  assert(run("mkdir -p " .. shell_quote(prefix .. "/tmp") .. " " .. shell_quote(prefix .. "/files") .. " "
    .. shell_quote(prefix .. "/uploads")), "cannot create " .. prefix)
  make_certificates(prefix .. "/tls")
  if opts.setup then -- the caller's files in the prefix (onlyoffice.emulator's users and documents)
    opts.setup(prefix)
  end
  if opts.big_mb then -- file 999000: random bytes, for download benchmarks
    assert(run("head -c " .. math.floor(opts.big_mb) .. "M /dev/urandom > " .. shell_quote(prefix .. "/files/999000")))
  end
  local conf = opts.template or (root .. "/emulator/nginx.conf")
  local template = assert(M.read_file(conf), conf .. " is missing")
  local user = worker_user()
  for _ = 1, 8 do
    local ds = random_port()
    local ws, tls, mtls, tls11 = ds + 1, ds + 2, ds + 3, ds + 4
    local vars = { PREFIX = prefix, ROOT = root, WORKERS = tostring(opts.workers or 1), PORT = tostring(ds),
      PORT2 = tostring(ws), PORT3 = tostring(tls), PORT4 = tostring(mtls), PORT5 = tostring(tls11),
      WORKER_USER = user }
    for k, v in pairs(opts.vars or {}) do
      vars[k] = tostring(v)
    end
    M.write_file(prefix .. "/nginx.conf", render(template, vars))
    -- nginx's Lua reads LUA_PATH/LUA_CPATH when it starts: a caller's paths for
    -- another Lua (a 5.4 cjson, say) would break the emulator's LuaJIT.
    local cmd = table.concat({ "env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_1 -u LUA_CPATH_5_1", NGINX,
      "-p", shell_quote(prefix .. "/"),
      "-c", shell_quote(prefix .. "/nginx.conf"),
      "-e", shell_quote(prefix .. "/error.log"), ">>", shell_quote(prefix .. "/start.log"), "2>&1" }, " ")
    if run(cmd) then
      portal.url, portal.url2 = "http://127.0.0.1:" .. ds, "http://127.0.0.1:" .. ws
      portal.https, portal.https_wrong_host = "https://127.0.0.1:" .. tls, "https://127.0.0.2:" .. tls
      portal.cafile, portal.capath = prefix .. "/tls/ca.crt", prefix .. "/tls/capath"
      -- Mutual TLS (a client certificate from the test CA required), and TLS 1.1 only.
      portal.https_mtls, portal.https_tls11 = "https://127.0.0.1:" .. mtls, "https://127.0.0.1:" .. tls11
      portal.client_cert, portal.client_key = prefix .. "/tls/client.crt", prefix .. "/tls/client.key"
      portal.client_key_encrypted, portal.client_key_password = prefix .. "/tls/client-encrypted.key",
        "client-key-pass"
      portal.docspace, portal.workspace = portal.url, portal.url2
      -- Listening proves little: the workers may still be unable to load the Lua
      -- they serve with, which would show up only as HTTP 500s in every spec.
      local status = status_of(portal.url .. READY)
      if status < 200 or status >= 500 then
        error(("nginx started but answers GET %s with %s (%s):\n%s"):format(READY,
          status == 0 and "nothing" or ("HTTP " .. status), conf, logs(prefix)), 0)
      end
      return
    end
    if not logs(prefix):find("in use", 1, true) then
      break -- only a taken port is worth another try
    end
  end
  error("the portal emulator did not start:\n" .. logs(prefix), 0)
end

--- Starts nginx; options: workers (default 1), prefix (default a new temporary folder),
--- big_mb (size of the generated file 999000), template (another nginx.conf with
--- ${PORT}, ${PORT2}, ${PREFIX}, ${ROOT}, ${WORKERS}, ${WORKER_USER}) and vars (more
--- ${...} values), setup (a function called with the prefix before nginx starts).
--- Ready means GET /__emu/ready on ${PORT} answers below 500: a template can serve there a check that its workers
--- can load what they need.
--- The result has url and url2 (the two ports), and docspace/workspace as aliases.
--- Whatever fails after nginx was launched stops it before the error goes on.
function M.start(opts)
  opts = opts or {}
  local portal = setmetatable({ prefix = opts.prefix and absolute(opts.prefix) or new_prefix(),
    keep = opts.prefix ~= nil }, Portal)
  live[portal] = true
  local ok, err = pcall(launch, portal, opts, here())
  if not ok then
    portal:stop()
    error(err, 0)
  end
  return portal
end

if arg and arg[0] and arg[0]:match("control%.lua$") and not package.loaded["control"] then
  local command, prefix = arg[1], arg[2]
  if command == "start" then
    local p = M.start({ prefix = prefix, workers = tonumber(os.getenv("PORTAL_WORKERS")),
      big_mb = tonumber(os.getenv("PORTAL_BIG_MB")) })
    live[p] = nil -- it is the caller's now: it outlives this process until `stop PREFIX`
    print("docspace  " .. p.docspace)
    print("workspace " .. p.workspace)
    print("https     " .. p.https)
    print("prefix    " .. p.prefix)
  elseif command == "stop" and prefix then
    setmetatable({ prefix = absolute(prefix), keep = true }, Portal):stop()
  else
    io.stderr:write("usage: control.lua start [PREFIX] | stop PREFIX\n")
    os.exit(2)
  end
end

return M
