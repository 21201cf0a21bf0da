-- Network options against the emulator's TLS servers (test CA, mutual TLS,
-- TLS 1.1 only) and a real forward proxy (tinyproxy).
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"

describe("network options", function()
  local portal
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)

  local function login(url, opts)
    return onlyoffice.login(url, helper.USER, helper.PASSWORD, opts)
  end

  local function port_of(url)
    return url:match(":(%d+)$")
  end

  -- The base64 SHA-256 of a certificate's public key, as CURLOPT_PINNEDPUBLICKEY takes it.
  local function pin_of(cert)
    return "sha256//" .. helper.sh("openssl x509 -in '" .. cert .. "' -pubkey -noout | openssl pkey -pubin "
      .. "-outform der | openssl dgst -sha256 -binary | openssl enc -base64"):match("%S+")
  end

  describe("capath", function()
    it("trusts the CAs of a hashed directory, which the system store lacks", function()
      local none, _, detail = login(portal.https)
      assert.is_nil(none)
      assert.equal("tls", detail.kind)
      local s = assert(login(portal.https, { capath = portal.capath }))
      assert.equal(helper.USER, assert(s:get("people/@self")).email)
      s:close()
    end)
  end)

  describe("client certificates", function()
    it("are required by the mutual-TLS server: without one nginx answers 400", function()
      local s, err, detail = login(portal.https_mtls, { cafile = portal.cafile })
      assert.is_nil(s)
      assert.equal(400, detail.status, err)
    end)

    it("client_cert and client_key log in", function()
      local s = assert(login(portal.https_mtls, { cafile = portal.cafile, client_cert = portal.client_cert,
        client_key = portal.client_key }))
      assert.equal(helper.USER, assert(s:get("people/@self")).email)
      s:close()
    end)

    it("an encrypted key opens with client_key_password, which no message or table shows", function()
      local opts = { cafile = portal.cafile, client_cert = portal.client_cert,
        client_key = portal.client_key_encrypted, client_key_password = portal.client_key_password }
      local s = assert(login(portal.https_mtls, opts))
      assert.equal(helper.USER, assert(s:get("people/@self")).email)
      s:close()
      opts.client_key_password = "wrong-key-pass"
      local none, err, detail = login(portal.https_mtls, opts)
      assert.is_nil(none)
      assert.equal("tls", detail.kind)
      assert.is_nil(err:find("wrong-key-pass", 1, true))
      for _, v in pairs(detail) do
        assert.is_nil(tostring(v):find("wrong-key-pass", 1, true))
      end
    end)
  end)

  describe("pinned_pubkey", function()
    it("with the server's key hash connects", function()
      local s = assert(login(portal.https, { cafile = portal.cafile,
        pinned_pubkey = pin_of(portal.prefix .. "/tls/server.crt") }))
      s:close()
    end)

    it("with the key as a PEM file connects", function()
      local file = portal.prefix .. "/tls/server.pub"
      helper.sh("openssl x509 -in '" .. portal.prefix .. "/tls/server.crt' -pubkey -noout > '" .. file .. "'")
      local s = assert(login(portal.https, { cafile = portal.cafile, pinned_pubkey = file }))
      s:close()
    end)

    it("with another key's hash fails with kind tls, though the CA is trusted", function()
      local s, err, detail = login(portal.https, { cafile = portal.cafile,
        pinned_pubkey = pin_of(portal.prefix .. "/tls/ca.crt") })
      assert.is_nil(s)
      assert.equal("tls", detail.kind)
      assert.equal(90, detail.curl_code, err)
    end)
  end)

  describe("resolve", function()
    it("sends a made-up host name to the address given", function()
      local url = "http://portal.onlyoffice.invalid:" .. port_of(portal.docspace)
      local s = assert(login(url, { resolve = { "portal.onlyoffice.invalid:" .. port_of(portal.docspace)
        .. ":127.0.0.1" } }))
      assert.equal("portal.onlyoffice.invalid:" .. port_of(portal.docspace),
        assert(s:get("emu/echo")).headers.host)
      s:close()
      local none, _, detail = login(url, { connect_timeout = 5 })
      assert.is_nil(none)
      assert.equal("network", detail.kind)
    end)

    it("keeps checking the certificate against the name in the URL", function()
      local tls = port_of(portal.https)
      -- 127.0.0.2 serves the same certificate, which names localhost: fine for localhost.
      local s = assert(login("https://localhost:" .. tls, { cafile = portal.cafile,
        resolve = { "localhost:" .. tls .. ":127.0.0.2" } }))
      s:close()
    end)
  end)

  describe("ip_resolve", function()
    it("v4 reaches the IPv4 listener; v6 finds no IPv6 address for 127.0.0.1's name", function()
      local url = "http://localhost:" .. port_of(portal.docspace)
      local s = assert(login(url, { ip_resolve = "v4" }))
      s:close()
      local none, _, detail = login(url, { ip_resolve = "v6", connect_timeout = 5,
        resolve = { "localhost:" .. port_of(portal.docspace) .. ":127.0.0.1" } })
      assert.is_nil(none)
      assert.equal("network", detail.kind)
    end)
  end)

  describe("http_version", function()
    it("is HTTP/1.1 by default and HTTP/1.0 when asked", function()
      local s = assert(login(portal.https, { cafile = portal.cafile }))
      assert.equal("HTTP/1.1", assert(s:get("emu/echo")).protocol)
      s:close()
      s = assert(login(portal.docspace, { http_version = "1.0" }))
      assert.equal("HTTP/1.0", assert(s:get("emu/echo")).protocol)
      s:close()
    end)
  end)

  describe("TLS 1.2 at least", function()
    it("refuses a server that speaks only TLS 1.1", function()
      -- The server does speak TLS 1.1, so the refusal is the module's.
      local hello = helper.sh("echo | openssl s_client -connect 127.0.0.1:" .. port_of(portal.https_tls11)
        .. " -tls1_1 -cipher DEFAULT@SECLEVEL=0 2>&1")
      assert.matches("Protocol%s*:%s*TLSv1%.1", hello)
      local s, _, detail = login(portal.https_tls11, { cafile = portal.cafile })
      assert.is_nil(s)
      assert.equal("tls", detail.kind)
    end)
  end)

  describe("proxy", function()
    local dir, pid, proxy

    -- tinyproxy in the foreground (-d), in the background of a shell, on a free port.
    local function start_proxy()
      dir = helper.sh("mktemp -d /tmp/onlyoffice-proxy.XXXXXX"):match("%S+")
      for _ = 1, 8 do
        local port = math.random(20000, 30000)
        helper.write_file(dir .. "/tinyproxy.conf", table.concat({ "Port " .. port, "Listen 127.0.0.1",
          "Timeout 30", 'LogFile "' .. dir .. '/tinyproxy.log"', "LogLevel Connect", "MaxClients 20",
          "Allow 127.0.0.1", "" }, "\n"))
        pid = helper.sh("tinyproxy -d -c '" .. dir .. "/tinyproxy.conf' >'" .. dir .. "/out.log' 2>&1 & echo $!")
          :match("%d+")
        local listening
        for _ = 1, 100 do
          listening = helper.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" .. port .. "/")
            :match("[1-9]%d%d")
          if listening or helper.sh("kill -0 " .. pid .. " 2>/dev/null && echo alive"):find("alive") == nil then
            break
          end
          helper.sh("sleep 0.05")
        end
        if listening then
          proxy = "http://127.0.0.1:" .. port
          return
        end
        helper.sh("kill " .. pid .. " 2>/dev/null")
      end
      error("tinyproxy did not start: " .. (helper.read_file(dir .. "/out.log") or ""))
    end

    local function proxy_log()
      return helper.read_file(dir .. "/tinyproxy.log") or ""
    end

    setup(start_proxy)
    teardown(function()
      helper.sh("kill " .. pid .. " 2>/dev/null; rm -rf '" .. dir .. "'")
    end)

    it("carries an http portal's requests (GET through the proxy)", function()
      local s = assert(login(portal.docspace, { proxy = proxy }))
      local echo = assert(s:get("emu/echo", { via = "proxy" }))
      s:close()
      assert.matches("tinyproxy", echo.headers.via or "")
      local log = proxy_log()
      assert.matches("POST " .. portal.docspace .. "/api/2.0/authentication", log, 1, true)
      assert.matches("GET " .. portal.docspace .. "/api/2.0/emu/echo?via=proxy", log, 1, true)
    end)

    it("tunnels an https portal with CONNECT: the proxy sees neither path nor token", function()
      local s = assert(login(portal.https, { proxy = proxy, cafile = portal.cafile }))
      local token = s:token()
      local echo = assert(s:get("emu/echo", { via = "tunnel" }))
      s:close()
      assert.is_nil(echo.headers.via)
      local log = proxy_log()
      assert.matches("CONNECT 127.0.0.1:" .. port_of(portal.https), log, 1, true)
      assert.is_nil(log:find("via=tunnel", 1, true))
      assert.is_nil(log:find("https://", 1, true))
      assert.is_nil(log:find(token, 1, true))
    end)

    it("proxy = \"\" goes direct", function()
      local before = #proxy_log()
      local s = assert(login(portal.docspace, { proxy = "" }))
      assert.is_nil(assert(s:get("emu/echo")).headers.via)
      s:close()
      assert.equal(before, #proxy_log())
    end)
  end)

  describe("checks", function()
    local function raises(opts, message)
      assert.has_error(function() onlyoffice.session(portal.docspace, "token", opts) end, message)
    end

    it("refuses wrong values at the caller's line", function()
      raises({ ip_resolve = "ipv4" }, 'option "ip_resolve" must be "v4", "v6" or "any", got "ipv4"')
      raises({ http_version = "2" },
        'option "http_version" must be "1.0" or "1.1" (HTTP/2 is not offered), got "2"')
      raises({ resolve = "h:1:127.0.0.1" }, 'option "resolve" must be a table, got string')
      raises({ resolve = { "no-port" } }, 'option "resolve" entry 1 must be "host:port:address", got "no-port"')
      raises({ resolve = { x = "h:1:127.0.0.1" } }, 'option "resolve" must be a list of "host:port:address" strings')
      raises({ pinned_pubkey = "sha256//not base64!" },
        'option "pinned_pubkey" must be a file or "sha256//<base64>" (several joined by ;)')
      raises({ client_cert = "a\nb" }, 'option "client_cert" must not contain CR, LF or NUL')
      local ok, err = pcall(function() onlyoffice.session(portal.docspace, "token", { capath = 1 }) end)
      assert.is_false(ok)
      assert.matches("network_spec.lua:%d+: option \"capath\" must be a string, got number", err)
    end)

    it("refuses each with transport \"ngx\"", function()
      for k, v in pairs({ capath = "/x", client_cert = "/x", client_key = "/x", client_key_password = "x",
        pinned_pubkey = "/x", resolve = { "h:1:127.0.0.1" }, ip_resolve = "v4", http_version = "1.1" }) do
        raises({ transport = "ngx", [k] = v },
          ("option %q has no effect with transport \"ngx\": set it on the internal location"):format(k))
      end
    end)

    it("accepts a list of pins and a removal in resolve", function()
      local s = onlyoffice.session(portal.docspace, "token", { pinned_pubkey = "sha256//YWJj;sha256//ZGVm=",
        resolve = { "-h:1", "+h:2:127.0.0.1,[::1]" } })
      s:close()
    end)
  end)
end)
