-- onlyoffice.webhook.verify against digests computed elsewhere (RFC 4231, the
-- openssl command line), and a DocSpace webhook end to end: the emulator
-- registers and signs, examples/nginx/webhook.lua in a real nginx receives.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"
local webhook = require "onlyoffice.webhook"
local core = require "onlyoffice.core"
local cjson = require "cjson"

local sh = helper.sh

local function unhex(s)
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function tmpdir()
  return sh("mktemp -d /tmp/onlyoffice-webhook.XXXXXX"):match("%S+")
end

-- HMAC-SHA256 of body under key by the openssl command, in upper case as DocSpace sends it.
local function openssl_hmac(key, body)
  local dir = tmpdir()
  helper.write_file(dir .. "/body", body)
  local out = sh(("openssl dgst -sha256 -mac HMAC -macopt hexkey:%s %s/body"):format(hex(key), dir))
  sh("rm -rf '" .. dir .. "'")
  return assert(out:match("= (%x+)"), out):upper()
end

-- RFC 4231, section 4 (test case 5 is a truncated MAC).
local RFC4231 = {
  { ("\11"):rep(20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
  { "Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
  { ("\170"):rep(20), ("\221"):rep(50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
  { unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), ("\205"):rep(50),
    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
  { ("\170"):rep(131), "Test Using Larger Than Block-Size Key - Hash Key First",
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
  { ("\170"):rep(131), "This is a test using a larger than block-size key and a larger than block-size data."
    .. " The key needs to be hashed before being used by the HMAC algorithm.",
    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
}

describe("onlyoffice.webhook.verify", function()
  local SECRET = "whsec-Ünïcode-7/+="
  local BODY = '{"event":{"id":7,"trigger":"file.created"},"payload":{"title":"a\\/b \226\130\172"}}'
  local SIG = "sha256=" .. openssl_hmac(SECRET, BODY)

  it("is the module's field and its own module", function()
    -- Not compared by identity: other specs reload the module, which makes new tables.
    for _, w in ipairs({ webhook, onlyoffice.webhook }) do
      assert.is_true(w.verify(SECRET, BODY, SIG))
      assert.is_false(w.verify(SECRET, BODY .. " ", SIG))
    end
  end)

  it("accepts the RFC 4231 vectors, in either case, with or without the prefix", function()
    for i, v in ipairs(RFC4231) do
      local key, data, digest = v[1], v[2], v[3]
      for _, header in ipairs({ "sha256=" .. digest:upper(), "sha256=" .. digest, "SHA256=" .. digest,
        digest:upper(), "sha256=" .. digest:sub(1, 32):upper() .. digest:sub(33) }) do
        local ok, why = webhook.verify(key, data, header)
        assert.is_true(ok, ("vector %d, %s: %s"):format(i, header, tostring(why)))
        assert.is_nil(why)
      end
    end
  end)

  it("agrees with openssl on empty, binary, NUL-holding and large bodies and long keys", function()
    local all = {}
    for i = 0, 255 do
      all[#all + 1] = string.char(i)
    end
    local bodies = { "", "\0", "a\0b", table.concat(all):rep(4), BODY, ("\255\0x"):rep(300000) }
    local keys = { "k", SECRET, ("s"):rep(50), ("long key "):rep(20), "nul\0in key" }
    for _, body in ipairs(bodies) do
      for _, key in ipairs(keys) do
        local header = "sha256=" .. openssl_hmac(key, body)
        assert.is_true((webhook.verify(key, body, header)), #body .. "-byte body, key " .. #key)
      end
    end
  end)

  it("refuses a tampered body and a wrong secret", function()
    local tampered = {
      BODY:gsub('"id":7', '"id":8'), BODY .. " ", BODY:sub(1, -2), " " .. BODY, BODY:gsub("\\/", "/"), "",
    }
    for _, body in ipairs(tampered) do
      assert.same({ false, "signature does not match" }, { webhook.verify(SECRET, body, SIG) })
    end
    -- (Not SECRET .. "\0": HMAC pads a short key with zero bytes, so that is the same key.)
    for _, key in ipairs({ SECRET .. "x", SECRET:sub(1, -2), SECRET:upper(), "\0" .. SECRET }) do
      assert.same({ false, "signature does not match" }, { webhook.verify(key, BODY, SIG) })
    end
  end)

  it("refuses malformed signatures without raising", function()
    local digest = SIG:sub(8)
    local malformed = {
      "", "sha256=", "sha256=" .. digest:sub(1, 63), "sha256=" .. digest:sub(1, 62), "sha256=" .. digest .. "0",
      "sha256=" .. digest .. digest, "sha256=" .. digest:sub(1, 63) .. "G", "sha256= " .. digest:sub(2),
      "sha256=" .. digest .. " ", "sha1=" .. digest, "sha256:" .. digest, "sha256=sha256=" .. digest,
      "sha256=" .. digest:sub(1, 30) .. "\0" .. digest:sub(32), "sha256=0x" .. digest:sub(3),
    }
    for _, header in ipairs(malformed) do
      assert.same({ false, "signature is not sha256=<64 hex digits>" }, { webhook.verify(SECRET, BODY, header) },
        header)
    end
  end)

  it("says what is missing when the header is absent or repeated", function()
    assert.same({ false, "no signature header" }, { webhook.verify(SECRET, BODY, nil) })
    assert.same({ false, "no signature header" }, { webhook.verify(SECRET, BODY) })
    assert.same({ false, "more than one signature header" }, { webhook.verify(SECRET, BODY, { SIG, SIG }) })
  end)

  it("never echoes the secret or the expected digest in a reason", function()
    local expected = openssl_hmac(SECRET, BODY .. "x")
    for _, header in ipairs({ SIG, "sha256=" .. ("0"):rep(64), "junk", SECRET }) do
      local ok, why = webhook.verify(SECRET, BODY .. "x", header)
      assert.is_false(ok)
      assert.is_nil(why:find(SECRET, 1, true))
      assert.is_nil(why:upper():find(expected, 1, true))
      assert.is_nil(why:upper():find(expected:sub(1, 16), 1, true))
    end
  end)

  it("raises on the caller's line for a bad secret, body or header type", function()
    local cases = {
      { function() return debug.getinfo(1, "l").currentline, webhook.verify(nil, BODY, SIG) end,
        "secret must be a string, got nil" },
      { function() return debug.getinfo(1, "l").currentline, webhook.verify(42, BODY, SIG) end,
        "secret must be a string, got number" },
      { function() return debug.getinfo(1, "l").currentline, webhook.verify("", BODY, SIG) end, "secret is empty" },
      { function() return debug.getinfo(1, "l").currentline, webhook.verify(SECRET, nil, SIG) end,
        "body must be a string" },
      { function() return debug.getinfo(1, "l").currentline, webhook.verify(SECRET, { BODY }, SIG) end,
        "body must be a string" },
      { function() return debug.getinfo(1, "l").currentline, webhook.verify(SECRET, BODY, 7) end,
        "signature header must be a string or nil, got number" },
    }
    for _, case in ipairs(cases) do
      local line
      local ok, err = pcall(function()
        local l = case[1]()
        line = l
      end)
      assert.is_false(ok)
      assert.is_nil(line) -- it raised before returning
      assert.matches("webhook_spec%.lua:%d+: onlyoffice%.webhook%.verify: " .. case[2]:gsub("%p", "%%%0"), err)
      -- The line is the one of the call inside the case's function.
      local at = tonumber(err:match("webhook_spec%.lua:(%d+):"))
      assert.truthy(debug.getinfo(case[1], "S").linedefined == at, err)
    end
  end)

  it("the emulator's own HMAC (pure Lua, LuaJIT) agrees with openssl", function()
    local dir = tmpdir()
    local body = table.concat({ "\0\1\2", BODY, ("\255"):rep(200) })
    helper.write_file(dir .. "/body", body)
    local out = sh(("cd %s/emulator && luajit -e 'local f = io.open(\"%s/body\", \"rb\"); local b = f:read(\"*a\"); "
      .. "io.write(require(\"hmac_sha256\").hmac(\"%s\", b))'"):format(helper.root, dir, "k\\0ey"))
    sh("rm -rf '" .. dir .. "'")
    assert.equal(openssl_hmac("k\0ey", body), out)
    assert.equal(openssl_hmac(("x"):rep(100), ""), sh(("cd %s/emulator && luajit -e "
      .. "'io.write(require(\"hmac_sha256\").hmac((\"x\"):rep(100), \"\"))'"):format(helper.root)))
  end)
end)

-- status, body of a curl call (extra arguments as a string)
local function curl(args)
  local out = sh("curl -s -m 20 -w '\\n%{http_code}' " .. args)
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

local function poll(what, check)
  for _ = 1, 200 do
    local v = check()
    if v then
      return v
    end
    core.sleep(0.025)
  end
  error("timed out waiting for " .. what)
end

describe("DocSpace webhooks end to end", function()
  local SECRET = "receiver-secret-4f9a"
  local portal, receiver, s, endpoint
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)
  before_each(function()
    portal:reset()
    receiver = helper.start({ template = helper.root .. "/spec/support/webhook.conf", vars = { SECRET = SECRET } })
    endpoint = receiver.url .. "/docspace/webhook"
    s = assert(onlyoffice.login(portal.docspace, helper.USER, helper.PASSWORD))
  end)
  after_each(function()
    s:close()
    receiver:stop()
  end)

  local function register(uri, secret)
    return s:post("settings/webhook", { name = "spec", uri = uri, secretKey = secret, enabled = true })
  end

  local function log_entry(id)
    for _, entry in ipairs(portal:control("webhook_log").log) do
      if entry.id == id then
        return entry
      end
    end
  end

  local function settled(id, attempts)
    return poll("delivery " .. id, function()
      local e = log_entry(id)
      return e and e.outcome ~= "pending" and #e.attempts >= (attempts or 1) and e
    end)
  end

  local function fire(query)
    local deliveries = portal:control("webhook_fire", query).deliveries
    assert.equal(1, #deliveries)
    return deliveries[1].id
  end

  -- The receiver's log lines of processed events and of refused deliveries.
  local function receiver_log()
    return helper.read_file(receiver.prefix .. "/error.log") or ""
  end

  local function count(text, pattern)
    return select(2, text:gsub(pattern, ""))
  end

  it("registers only a URL that answers HEAD with 2xx, and needs name, uri and secretKey", function()
    local created = assert(register(endpoint, SECRET))
    assert.is_number(created.id)
    assert.equal(endpoint, created.uri)
    assert.is_nil(created.secretKey) -- the API never shows it
    for _, uri in ipairs({ helper.CLOSED_URL .. "/hook", receiver.url .. "/nothing-here" }) do
      local data, err, detail = register(uri, SECRET)
      assert.is_nil(data)
      assert.equal(400, detail.status)
      assert.matches("webhook URL not available", err, 1, true)
    end
    local _, _, detail = s:post("settings/webhook", { name = "spec", uri = endpoint })
    assert.equal(400, detail.status)
    local list = assert(s:get("settings/webhook"))
    assert.equal(1, #list)
    assert.equal(created.id, list[1].id)
    assert(s:delete("settings/webhook/" .. created.id))
    assert.equal(0, #assert(s:get("settings/webhook")))
  end)

  it("delivers a signed event that is processed once; a resent duplicate gets 200 and no processing", function()
    local hook = assert(register(endpoint, SECRET))
    local id = fire({ trigger = "file.created", id = 4242, webhook = hook.id })
    local entry = settled(id)
    assert.equal("delivered", entry.outcome)
    assert.equal(1, #entry.attempts)
    assert.equal(200, entry.attempts[1].status)
    assert.equal("ok\n", entry.attempts[1].body)
    assert.matches("^sha256=[0-9A-F]+$", entry.attempts[1].signature) -- upper-case hex, as DocSpace
    local line = "docspace webhook: file%.created 4242 %(event " .. id .. "%)"
    poll("the receiver's timer", function() return count(receiver_log(), line) > 0 end)
    -- The portal's retry of a logged delivery resends the same event id.
    assert(s:put("settings/webhook/" .. id .. "/retry"))
    entry = settled(id, 2)
    assert.equal("delivered", entry.outcome)
    assert.equal(200, entry.attempts[2].status)
    assert.equal("already received\n", entry.attempts[2].body)
    core.sleep(0.3) -- a second processing would have been logged by now
    assert.equal(1, count(receiver_log(), line))
  end)

  it("a wrong secret gets 401 on every attempt; each retry is signed anew; the failure is logged", function()
    local hook = assert(register(endpoint, "not-the-receivers-secret"))
    local id = fire({ trigger = "room.created", id = 77, webhook = hook.id })
    local entry = settled(id, 4)
    assert.equal("failed", entry.outcome)
    assert.equal(4, #entry.attempts) -- the first and 3 retries
    local signatures = {}
    for i, attempt in ipairs(entry.attempts) do
      assert.equal(401, attempt.status)
      assert.equal(i - 1, attempt.retryCount)
      signatures[attempt.signature] = true
    end
    local distinct = 0
    for _ in pairs(signatures) do
      distinct = distinct + 1
    end
    assert.equal(4, distinct)
    local log = receiver_log()
    assert.equal(4, count(log, "docspace webhook refused: signature does not match"))
    assert.equal(0, count(log, "%(event " .. id .. "%)"))
    assert.is_nil(log:find("not-the-receivers-secret", 1, true))
    assert.is_nil(log:find(SECRET, 1, true))
  end)

  it("deletes a webhook whose receiver answers 410", function()
    local hook = assert(register(receiver.url .. "/gone", SECRET))
    local entry = settled(fire({ webhook = hook.id }))
    assert.equal("gone", entry.outcome)
    assert.equal(1, #entry.attempts)
    assert.equal(0, #assert(s:get("settings/webhook")))
  end)

  it("the receiver refuses unsigned, oversized and non-POST requests, and signed non-JSON", function()
    assert.equal(200, (curl("-I '" .. endpoint .. "'")))
    assert.equal(405, (curl("'" .. endpoint .. "'")))
    assert.equal(401, (curl("-X POST --data-binary '{\"event\":{\"id\":1}}' '" .. endpoint .. "'")))
    local sig = "sha256=" .. openssl_hmac(SECRET, "not json")
    assert.equal(400, (curl(("-X POST -H 'x-docspace-signature-256: %s' --data-binary 'not json' '%s'")
      :format(sig, endpoint))))
    local dir = tmpdir()
    helper.write_file(dir .. "/big", ("x"):rep(1024 * 1024 + 1))
    assert.equal(413, (curl(("-X POST --data-binary @%s/big '%s'"):format(dir, endpoint))))
    -- A body just under the cap is taken whole from memory and checked.
    local body = cjson.encode({ event = { id = "big-1", trigger = "file.updated", triggerId = 1 },
      payload = { text = ("y"):rep(1024 * 1024 - 200) } })
    helper.write_file(dir .. "/ok", body)
    assert.equal(200, (curl(("-X POST -H 'x-docspace-signature-256: sha256=%s' --data-binary @%s/ok '%s'")
      :format(openssl_hmac(SECRET, body), dir, endpoint))))
    sh("rm -rf '" .. dir .. "'")
    poll("the big event", function() return receiver_log():find("(event big-1)", 1, true) end)
  end)
end)
