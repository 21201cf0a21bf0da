-- API keys, OAuth2 sessions and cached logins (token_file), each against the
-- emulator's DocSpace 3.x credentials, and together with the rest of the module.
local helper = require "spec.helper"
local onlyoffice = require "onlyoffice"
local creds = require "portal_credentials"

local function stat_mode(path)
  return helper.sh("stat -c %a '" .. path .. "'"):match("%d+")
end

describe("API keys", function()
  local portal, url
  setup(function()
    portal = helper.start()
    url = portal.docspace
  end)
  teardown(function() portal:stop() end)
  before_each(function() portal:reset() end)

  -- A new key of the test user, made through the portal's own route.
  local function new_key(permissions, days)
    local s = assert(onlyoffice.login(url, helper.USER, helper.PASSWORD))
    local k = assert(s:post("keys", { name = "spec key", permissions = permissions or onlyoffice.array({}),
      expiresInDays = days }))
    s:close()
    return k.key, k.id
  end

  it("sends a key given as the token, as an option or as a field, as Bearer", function()
    local key = new_key()
    assert.matches("^sk%-%x+$", key)
    for _, s in ipairs({ onlyoffice.session(url, key), onlyoffice.session(url, { api_key = key }),
      onlyoffice.session({ url = url, api_key = key }) }) do
      local me = assert(s:get("people/@self"))
      assert.equal(helper.USER, me.email)
      local echo = assert(s:get("emu/echo"))
      assert.equal("Bearer " .. key, echo.headers.authorization) -- the caller's own data: not redacted
      s:close()
    end
    assert.equal(1, portal:logins()) -- new_key's: the key sessions log nothing in
  end)

  it("is refused by the portal without Bearer, as DocSpace does", function()
    local key = new_key()
    local code = helper.sh("curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: " .. key .. "' "
      .. url .. "/api/2.0/people/@self")
    assert.equal("401", code)
  end)

  it("never shows the key: token(), tostring, trace, echoed text", function()
    local key = new_key()
    local lines = {}
    local s = onlyoffice.session(url, key, { trace = function(line) lines[#lines + 1] = line end })
    assert.is_nil(s:token())
    assert.is_nil(tostring(s):find(key, 1, true))
    local _, err, detail = s:post("emu/leak", { key = key })
    assert.equal(400, detail.status)
    assert.is_nil(err:find(key, 1, true))
    assert.is_nil(err:find(key:sub(4), 1, true))
    for _, line in ipairs(lines) do
      assert.is_nil(line:find(key, 1, true))
    end
    s:close()
  end)

  it("treats a revoked or deactivated key's 401 as final: kind auth, no login", function()
    local key, id = new_key()
    local s = onlyoffice.session(url, key)
    assert(s:get("people/@self"))
    local admin = assert(onlyoffice.login(url, helper.USER, helper.PASSWORD))
    assert.is_true(admin:put("keys/" .. id, { isActive = false }))
    local data, err, detail = s:get("people/@self")
    assert.is_nil(data)
    assert.equal("auth", detail.kind)
    assert.equal(401, detail.status)
    assert.matches("API key was refused", err, 1, true)
    assert.is_true(admin:put("keys/" .. id, { isActive = true }))
    assert(s:get("people/@self"))
    assert.is_true(admin:delete("keys/" .. id))
    local results = s:batch({ { "GET", "people/@self" }, { "GET", "files/@my" } })
    for i = 1, 2 do
      assert.equal("auth", results[i][3].kind)
    end
    assert.equal(2, portal:logins()) -- new_key's and the admin's, and no other
    admin:close()
    s:close()
  end)

  it("names the scope a 403 lacks", function()
    local key = new_key({ "files:read" })
    local s = onlyoffice.session(url, key)
    assert(s:get("files/@my"))
    local _, err, detail = s:get("people")
    assert.equal("auth", detail.kind)
    assert.equal(403, detail.status)
    assert.matches("lacks the scope this route needs: accounts:read", err, 1, true)
    _, err, detail = s:post("keys", { name = "another" })
    assert.equal(403, detail.status)
    assert.matches("needs: *:write", err, 1, true)
    _, err = s:post("files/folder/1001", { title = "x" })
    assert.matches("needs: files:write", err, 1, true)
    s:close()
  end)

  it("logout closes the session and says the key stays valid", function()
    local key = new_key()
    local s = onlyoffice.session(url, key)
    local ok, err, detail = s:logout()
    assert.is_nil(ok)
    assert.equal("auth", detail.kind)
    assert.matches("DELETE /api/2.0/keys/{id}", err, 1, true)
    assert.equal("onlyoffice.session (closed)", tostring(s))
    local again = onlyoffice.session(url, key)
    assert(again:get("people/@self"))
    again:close()
  end)

  it("raises for credential mistakes at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline
    local cases = {
      { function() onlyoffice.session(url, "tok", { api_key = "sk-1" }) end, "exactly one of" },
      { function() onlyoffice.session(url, { api_key = "sk-1\r\nX: y" }) end, "visible ASCII" },
      { function() onlyoffice.session(url, { api_key = "" }) end, "visible ASCII" },
      { function() onlyoffice.session(url, { api_key = 7 }) end, "visible ASCII" },
      { function() onlyoffice.session(url, "sk-with space") end, "visible ASCII" },
      { function() onlyoffice.session(url, { api_key = "sk-1", refresh_token = "r" }) end, "OAuth sessions" },
      { function() onlyoffice.session(url, { access_token = "a", refresh_token = "r" }) end, "client_id" },
      { function() onlyoffice.session(url, { access_token = "a", client_id = "c" }) end, "need a refresh_token" },
      { function() onlyoffice.session(url, { access_token = "a", on_refresh = print }) end, "need a refresh_token" },
      { function() onlyoffice.session(url, { access_token = "a", expires_at = "soon" }) end, "expires_at" },
      { function() onlyoffice.session(url, { api_key = "sk-1", token_file = "/tmp/x" }) end, "belong to login" },
      { function() onlyoffice.session(url, { api_key = "sk-1", timeuot = 3 }) end, "timeuot" },
    }
    for i, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok, "case " .. i)
      assert.matches(case[2], err, 1, true)
      assert.matches("credentials_spec.lua:" .. (line + 1 + i) .. ":", err, 1, true)
    end
  end)
end)

describe("OAuth2 sessions", function()
  local portal, url
  setup(function()
    portal = helper.start()
    url = portal.docspace
  end)
  teardown(function() portal:stop() end)
  before_each(function() portal:reset() end)

  local function grant(ttl, scopes)
    if ttl then
      portal:control("oauth_ttl", { seconds = ttl })
    end
    return portal:control("oauth_grant", { user = helper.USER, scopes = scopes })
  end

  local function session(t, extra)
    local opts = { url = url, access_token = t.access_token, refresh_token = t.refresh_token,
      client_id = creds.CLIENT_ID, client_secret = creds.CLIENT_SECRET }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return onlyoffice.session(opts)
  end

  local function stats()
    return portal:control("credentials")
  end

  it("sends the access token as Bearer and refreshes after a 401, once, handing over the rotated pair", function()
    local t = grant(1)
    local got = {}
    local s = session(t, { on_refresh = function(tokens) got[#got + 1] = tokens end })
    assert(s:get("people/@self"))
    assert.equal(t.access_token, s:token())
    helper.sh("sleep 1.2")
    grant(3600) -- later tokens live long
    local me = assert(s:get("people/@self"))
    assert.equal(helper.USER, me.email)
    assert.equal(1, #got)
    local new = got[1]
    assert.are_not.equal(t.access_token, new.access_token)
    assert.are_not.equal(t.refresh_token, new.refresh_token)
    assert.equal(new.access_token, s:token())
    assert.equal(3600, new.expires_in)
    assert.is_true(math.abs(new.expires_at - (os.time() + 3600)) <= 2)
    assert.equal("Bearer", new.token_type)
    local st = stats()
    assert.equal(1, st.refreshes)
    -- client_secret_post: a form with the client's id and secret, no Basic header.
    assert.matches("application/x-www-form-urlencoded", st.last_token_ctype, 1, true)
    local form = {}
    for k, v in st.last_token_form:gmatch("([^&=]+)=([^&]*)") do
      form[k] = v
    end
    assert.same({ grant_type = "refresh_token", refresh_token = t.refresh_token, client_id = creds.CLIENT_ID,
      client_secret = creds.CLIENT_SECRET }, form)
    -- The rotated refresh token works; the old one is spent.
    local other = session({ access_token = "expired.access.token", refresh_token = t.refresh_token })
    local _, oerr, odetail = other:get("people/@self")
    assert.equal("auth", odetail.kind)
    assert.matches("token refresh failed: HTTP 400: invalid_grant", oerr, 1, true)
    other:close()
    local next_session = session({ access_token = "expired.access.token", refresh_token = new.refresh_token })
    assert(next_session:get("people/@self"))
    next_session:close()
    s:close()
  end)

  it("refreshes before a known expiry instead of waiting for the 401", function()
    local t = grant()
    local got = 0
    local s = session(t, { expires_at = os.time() + 10, on_refresh = function() got = got + 1 end })
    assert(s:get("people/@self"))
    assert.equal(1, got)
    assert.are_not.equal(t.access_token, s:token())
    assert.equal(0, stats().refused)
    assert(s:get("people/@self"))
    assert.equal(1, got) -- the new token's expiry is an hour away
    s:close()
  end)

  it("reports a refresh before a known expiry that fails, for a call and for every batch item", function()
    local t = grant()
    local s = session(t, { expires_at = os.time() + 10 })
    portal:control("oauth_revoke", { user = helper.USER })
    local data, err, detail = s:get("people/@self")
    assert.is_nil(data)
    assert.equal("auth", detail.kind)
    assert.matches("token refresh failed: HTTP 400: invalid_grant", err, 1, true)
    assert.equal("/api/2.0/people/@self", detail.path)
    local results = s:batch({ { "GET", "people/@self" }, { "GET", "files/@my" } })
    for i = 1, 2 do
      assert.equal("auth", results[i][3].kind)
      assert.matches("token refresh failed", results[i][2], 1, true)
    end
    s:close()
  end)

  it("refreshes once for a whole batch whose token expired", function()
    local t = grant(1)
    local s = session(t)
    helper.sh("sleep 1.2")
    grant(3600)
    local list = {}
    for i = 1, 12 do
      list[i] = { "GET", "people/@self" }
    end
    local results = s:batch(list, { concurrency = 6 })
    for i = 1, 12 do
      assert.is_true(results[i].ok)
    end
    assert.equal(1, stats().refreshes)
    s:close()
  end)

  it("reports a refused refresh as kind auth, without the secrets", function()
    local t = grant(1)
    local lines = {}
    local s = onlyoffice.session({ url = url, access_token = t.access_token, refresh_token = t.refresh_token,
      client_id = creds.CLIENT_ID, client_secret = "wrong-secret-value-123",
      trace = function(line) lines[#lines + 1] = line end })
    helper.sh("sleep 1.2")
    local data, err, detail = s:get("people/@self")
    assert.is_nil(data)
    assert.equal("auth", detail.kind)
    assert.equal(401, detail.status)
    assert.matches("token refresh failed: HTTP 401: invalid_client", err, 1, true)
    assert.equal("/api/2.0/people/@self", detail.path) -- the call that failed, as for a failed re-login
    for _, text in ipairs({ err, table.concat(lines, "\n") }) do
      assert.is_nil(text:find("wrong-secret-value-123", 1, true))
      assert.is_nil(text:find(t.refresh_token, 1, true))
    end
    s:close()
  end)

  it("gets a final auth failure once every token of the user is revoked", function()
    local t = grant()
    local s = session(t)
    assert(s:get("people/@self"))
    portal:control("oauth_revoke", { user = helper.USER })
    local _, err, detail = s:get("people/@self")
    assert.equal("auth", detail.kind)
    assert.matches("token refresh failed", err, 1, true)
    assert.equal(1, stats().refused)
    s:close()
  end)

  it("keeps the new tokens when on_refresh raises, and raises its error from the call", function()
    local t = grant(1)
    local s = session(t, { on_refresh = function() error("disk full") end })
    helper.sh("sleep 1.2")
    grant(3600)
    local ok, err = pcall(s.get, s, "people/@self")
    assert.is_false(ok)
    assert.matches("disk full", err, 1, true)
    assert.are_not.equal(t.access_token, s:token())
    assert(s:get("people/@self"))
    s:close()
  end)

  it("raises 'in use' from an on_refresh that calls its own session, and stays usable", function()
    local t = grant(1)
    local s
    s = session(t, { on_refresh = function() s:get("people/@self") end })
    helper.sh("sleep 1.2")
    grant(3600)
    local ok, err = pcall(s.get, s, "people/@self")
    assert.is_false(ok)
    assert.matches("session is in use", err, 1, true)
    assert(s:get("people/@self"))
    s:close()
  end)

  it("redacts the access token, refresh token and client secret from portal text", function()
    local t = grant()
    local s = session(t)
    local _, err, detail = s:post("emu/leak", { a = t.refresh_token, b = creds.CLIENT_SECRET })
    assert.equal(400, detail.status)
    for _, secret in ipairs({ t.access_token, t.refresh_token, creds.CLIENT_SECRET }) do
      assert.is_nil(err:find(secret, 1, true))
    end
    s:close()
  end)

  it("refreshes on demand with s:refresh, which raises for other sessions", function()
    local t = grant()
    local got
    local s = session(t, { on_refresh = function(tokens) got = tokens end })
    assert.is_true(s:refresh())
    assert.equal(got.access_token, s:token())
    assert.equal(1, stats().refreshes)
    assert(s:get("people/@self"))
    local plain = onlyoffice.session(url, { access_token = t.access_token })
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(function() plain:refresh() end)
    assert.is_false(ok)
    assert.matches("credentials_spec.lua:" .. (line + 1) .. ": s:refresh needs an OAuth session", err, 1, true)
    plain:close()
    s:close()
  end)

  it("exchanges an authorization code once, and checks its arguments", function()
    local code = portal:control("oauth_code", { user = helper.USER }).code
    local t = { url = url, code = code, redirect_uri = "https://app.example.com/cb", client_id = creds.CLIENT_ID,
      client_secret = creds.CLIENT_SECRET }
    local tokens = assert(onlyoffice.oauth_exchange(t))
    assert.matches("^ort_", tokens.refresh_token)
    assert.equal(3600, tokens.expires_in)
    local s = session(tokens)
    assert.equal(helper.USER, assert(s:get("people/@self")).email)
    s:close()
    local again, err, detail = onlyoffice.oauth_exchange(t)
    assert.is_nil(again)
    assert.equal("auth", detail.kind)
    assert.equal("token exchange failed: HTTP 400: invalid_grant", err)
    local form = stats().last_token_form
    assert.matches("grant_type=authorization_code", form, 1, true)
    assert.matches("client_secret=" .. creds.CLIENT_SECRET, form, 1, true)
    for _, case in ipairs({
      { { url = url, code = "c", redirect_uri = "r", client_id = "i" }, "client_secret" },
      { { url = url, code = "c", redirect_uri = "r", client_id = "i", client_secret = "s", code_verifier = "v" },
        "not both" },
      { { url = url, redirect_uri = "r", client_id = "i", client_secret = "s" }, "code must be" },
      { { url = url, code = "c", redirect_uri = "r", client_id = "i", client_secret = "s", timeuot = 1 }, "timeuot" },
    }) do
      local ok, why = pcall(onlyoffice.oauth_exchange, case[1])
      assert.is_false(ok)
      assert.matches(case[2], why, 1, true)
    end
  end)

  it("does not follow a redirect of the token endpoint with the refresh token or a code", function()
    for _, code in ipairs({ 303, 307 }) do
      portal:reset()
      local t = grant()
      local code_for_exchange = portal:control("oauth_code", { user = helper.USER }).code
      portal:control("oauth_redirect", { to = "/api/2.0/emu/echo", code = code })
      local s = session(t)
      local ok, err, detail = s:refresh()
      assert.is_nil(ok)
      assert.equal("auth", detail.kind) -- as a redirected login is kind "login"
      assert.equal(code, detail.status)
      assert.matches("a token request was redirected, not followed", err, 1, true)
      local tokens, xerr = onlyoffice.oauth_exchange({ url = url, code = code_for_exchange, redirect_uri = "r",
        client_id = creds.CLIENT_ID, client_secret = creds.CLIENT_SECRET })
      assert.is_nil(tokens)
      assert.matches("a token request was redirected, not followed", xerr, 1, true)
      local hits = portal:control("hits").hits
      assert.is_nil(hits["GET /api/2.0/emu/echo"])
      assert.is_nil(hits["POST /api/2.0/emu/echo"])
      assert.equal(t.access_token, s:token())
      s:close()
    end
  end)

  it("works without a refresh token until the access token is refused", function()
    local t = grant()
    local s = onlyoffice.session(url, { access_token = t.access_token })
    assert.equal(helper.USER, assert(s:get("people/@self")).email)
    portal:control("oauth_revoke", { user = helper.USER })
    local _, err, detail = s:get("people/@self")
    assert.equal("auth", detail.kind)
    assert.matches("OAuth access token was refused", err, 1, true)
    local ok, lerr = s:logout()
    assert.is_nil(ok)
    assert.matches("/oauth2/revoke", lerr, 1, true)
  end)
end)

describe("login with token_file", function()
  local portal, url, dir
  setup(function()
    portal = helper.start()
    url = portal.docspace
    dir = helper.sh("mktemp -d /tmp/onlyoffice-tokens.XXXXXX"):match("%S+")
  end)
  teardown(function()
    portal:stop()
    helper.sh("rm -rf '" .. dir .. "'")
  end)
  before_each(function()
    portal:reset()
    helper.sh("rm -f '" .. dir .. "'/*")
  end)

  local function login(path, user, extra)
    local opts = { url = url, username = user or helper.USER, password = helper.PASSWORD, token_file = path }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return onlyoffice.login(opts)
  end

  local function probes()
    return portal:control("hits").hits["GET /api/2.0/people/@self"] or 0
  end

  it("logs in once, then reuses the saved token after one probe", function()
    local path = dir .. "/token"
    local a = assert(login(path))
    assert.equal("600", stat_mode(path))
    assert.equal(a:token(), require("cjson").decode(helper.read_file(path)).token)
    assert.is_nil(helper.read_file(path):find(helper.PASSWORD, 1, true))
    a:close()
    local b = assert(login(path))
    assert.equal(a:token() or b:token(), b:token())
    assert.equal(1, portal:logins())
    assert.equal(1, probes())
    assert(b:get("files/@my"))
    b:close()
  end)

  it("logs in again when the saved token was revoked, and saves the new one", function()
    local path = dir .. "/token"
    local a = assert(login(path))
    local old = a:token()
    a:close()
    portal:control("revoke", { user = helper.USER })
    local b = assert(login(path))
    assert.are_not.equal(old, b:token())
    assert.equal(2, portal:logins())
    assert.equal(b:token(), require("cjson").decode(helper.read_file(path)).token)
    b:close()
  end)

  it("saves the token of a re-login in the middle of a run", function()
    local path = dir .. "/token"
    local s = assert(login(path))
    portal:control("revoke", { user = helper.USER })
    assert(s:get("people/@self"))
    assert.equal(2, portal:logins())
    assert.equal(s:token(), require("cjson").decode(helper.read_file(path)).token)
    s:close()
  end)

  it("ignores a file saved for another user or portal, and replaces it", function()
    local path = dir .. "/token"
    assert(login(path, "tfa@example.com", { code = "123456" })):close()
    local s = assert(login(path))
    assert.equal(1, portal:logins())
    assert.equal(0, probes())
    assert.matches(helper.USER, helper.read_file(path), 1, true)
    s:close()
  end)

  it("keeps a two-factor account logged in across runs without a new code", function()
    local path = dir .. "/token"
    assert(login(path, "tfa@example.com", { code = "123456" })):close()
    local s, err = login(path, "tfa@example.com")
    assert.is_nil(err)
    assert(s:get("people/@self"))
    s:close()
  end)

  it("refuses a file others can read, before sending anything", function()
    local path = dir .. "/token"
    assert(login(path)):close()
    helper.sh("chmod 640 '" .. path .. "'")
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(function()
      onlyoffice.login(url, helper.USER, helper.PASSWORD, { token_file = path })
    end)
    assert.is_false(ok)
    assert.matches("mode 0600 or 0400", err, 1, true)
    assert.matches("credentials_spec.lua:" .. (line + 2) .. ":", err, 1, true)
    assert.equal(1, portal:logins())
    assert.equal(0, probes())
  end)

  it("refuses a link to a file others can read, or a FIFO, at once", function()
    helper.sh("echo '{}' > '" .. dir .. "/public'; chmod 644 '" .. dir .. "/public'; ln -s '" .. dir
      .. "/public' '" .. dir .. "/link'; mkfifo -m 600 '" .. dir .. "/fifo'")
    for name, why in pairs({ link = "mode 0600 or 0400", fifo = "must be a regular file" }) do
      local ok, err = pcall(onlyoffice.login, url, helper.USER, helper.PASSWORD, { token_file = dir .. "/" .. name })
      assert.is_false(ok)
      assert.matches(why, err, 1, true)
    end
    assert.equal(0, portal:logins())
  end)

  it("returns kind io when the token cannot be saved", function()
    local s, err, detail = login(dir .. "/missing/dir/token")
    assert.is_nil(s)
    assert.equal("io", detail.kind)
    assert.matches("token_file: cannot write", err, 1, true)
  end)

  it("does not log in when the probe gets no answer", function()
    local path = dir .. "/token"
    assert(login(path)):close()
    local doc = helper.read_file(path):gsub(url:gsub("%p", "%%%0"), helper.CLOSED_URL)
    helper.write_file(path, doc)
    helper.sh("chmod 600 '" .. path .. "'")
    local s, _, detail = onlyoffice.login({ url = helper.CLOSED_URL, username = helper.USER,
      password = helper.PASSWORD, token_file = path, connect_timeout = 2 })
    assert.is_nil(s)
    assert.equal("network", detail.kind)
    assert.equal(1, portal:logins())
  end)

  it("removes the file at logout", function()
    local path = dir .. "/token"
    local s = assert(login(path))
    assert.is_true(s:logout())
    assert.is_nil(helper.read_file(path))
  end)
end)

describe("rate limits", function()
  local portal, url
  setup(function()
    portal = helper.start()
    url = portal.docspace
  end)
  teardown(function() portal:stop() end)
  before_each(function() portal:reset() end)

  local function login(opts)
    local s = assert(onlyoffice.login(url, helper.USER, helper.PASSWORD, opts))
    return s
  end

  it("retries a 429 whatever the method, with a growing jittered wait", function()
    local s = login({ retries = 2, max_retry_wait = 0.5 })
    local clock = require("socket").gettime
    local started = clock()
    local data = assert(s:post("emu/flaky", { x = 1 }, { status = 429, times = 2, key = "post" }))
    assert.equal(3, data.hits)
    -- Each wait is half to all of min(2^attempt, max_retry_wait) seconds.
    local waited = clock() - started
    assert.is_true(waited >= 0.5 and waited < 5, "waited " .. waited)
    -- 502/503/504 stay GET/HEAD only.
    local _, _, detail = s:post("emu/flaky", { x = 1 }, { status = 503, times = 1, key = "post503" })
    assert.equal(503, detail.status)
    s:close()
  end)

  it("says rate_limit with the limiter's headers when the retries run out", function()
    local s = login({ retries = 1, max_retry_wait = 1 })
    portal:control("throttle", { count = 5 })
    local data, err, detail = s:get("people/@self")
    assert.is_nil(data)
    assert.equal("rate_limit", detail.kind)
    assert.equal(429, detail.status)
    assert.same({ limit = 1500, remaining = 0 }, detail.rate_limit)
    assert.matches("rate limited after 1 retries", err, 1, true)
    assert.equal(2, portal:control("limits").limited)
    s:close()
  end)

  it("does not wait out a daily window's Retry-After longer than max_retry_wait", function()
    local s = login({ retries = 3, max_retry_wait = 5 })
    portal:control("throttle", { count = 1, retry_after = 3600 })
    local _, _, detail = s:put("files/folder/1001", { title = "x" })
    assert.equal("rate_limit", detail.kind)
    assert.equal(3600, detail.retry_after)
    assert.equal(10000, detail.rate_limit.limit)
    assert.is_true(math.abs(detail.rate_limit.reset - (os.time() + 3600)) <= 2)
    assert.equal(1, portal:control("limits").limited)
    s:close()
  end)

  it("draws the jitter from OpenSSL, not from an unseeded math.random", function()
    local cmd = (helper.runtime == "jit" and "luajit" or ("lua" .. helper.runtime))
      .. " -e \"package.cpath='" .. package.cpath .. "'; math.randomseed(1); "
      .. "io.write(require('onlyoffice.core').random(), ' ', math.random())\""
    -- Not helper.sh: under the sanitizer run the module's ASan build needs the preload.
    local function run()
      local p = io.popen(cmd)
      local out = p:read("*a")
      p:close()
      return out
    end
    local a, b = run(), run()
    local ra, ma = a:match("^(%S+) (%S+)$")
    local rb, mb = b:match("^(%S+) (%S+)$")
    assert.equal(ma, mb) -- the same seed, the same math.random: the module leaves it alone
    assert.are_not.equal(ra, rb)
    assert.is_true(tonumber(ra) >= 0 and tonumber(ra) < 1)
  end)

  it("keeps a batch under 50 concurrent reads and 15 concurrent writes", function()
    portal:control("limit", { reads = 50, writes = 15 })
    local s = login({ retries = 0 })
    local reads, writes = {}, {}
    for i = 1, 60 do
      reads[i] = { "GET", "emu/slow", query = { ms = 300 } }
    end
    for i = 1, 30 do
      writes[i] = { "POST", "emu/slow", query = { ms = 300 }, body = { i = i } }
    end
    for _, list in ipairs({ reads, writes }) do
      local results = s:batch(list, { concurrency = 50 })
      for i = 1, #list do
        assert.is_true(results[i].ok, tostring(results[i][2]))
      end
    end
    local limits = portal:control("limits")
    assert.equal(0, limits.limited)
    assert.equal(50, limits.max_read)
    assert.equal(15, limits.max_write)
    assert.has_error(function() s:batch(reads, { concurrency = 51 }) end,
      "option \"concurrency\" must be a whole number from 1 to 50")
    s:close()
  end)

  it("refuses the excess when the limiter allows fewer, and the retries get it through", function()
    portal:control("limit", { reads = 4 })
    local s = login({ retries = 5, max_retry_wait = 1 })
    local list = {}
    for i = 1, 8 do
      list[i] = { "GET", "emu/slow", query = { ms = 200 } }
    end
    local results = s:batch(list, { concurrency = 8 })
    for i = 1, 8 do
      assert.is_true(results[i].ok, tostring(results[i][2]))
    end
    assert.is_true(portal:control("limits").limited >= 4)
    s:close()
  end)
end)

describe("OAuth and API-key sessions with the rest of the module", function()
  local portal, url
  setup(function()
    portal = helper.start()
    url = portal.docspace
  end)
  teardown(function() portal:stop() end)
  before_each(function() portal:reset() end)

  -- An OAuth session whose access token lives `ttl` seconds; later tokens live an hour.
  local function expiring(ttl, extra)
    portal:control("oauth_ttl", { seconds = ttl })
    local t = portal:control("oauth_grant", { user = helper.USER })
    portal:control("oauth_ttl", { seconds = 3600 })
    local opts = { url = url, access_token = t.access_token, refresh_token = t.refresh_token,
      client_id = creds.CLIENT_ID, client_secret = creds.CLIENT_SECRET }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return onlyoffice.session(opts), t
  end

  local function refreshes()
    return portal:control("credentials").refreshes
  end

  it("refreshes in the middle of s:pages and walks every entry", function()
    local s = expiring(1)
    local n = 0
    for _, i in s:pages("people", nil, { count = 50 }) do
      n = i
      if i == 1 then
        helper.sh("sleep 1.2") -- the token expires before the second page
      end
    end
    assert.equal(150, n)
    assert.equal(1, refreshes())
    s:close()
  end)

  it("refreshes between the chunks of an upload session and uploads every byte", function()
    local s = expiring(1)
    local data = ("0123456789abcdef"):rep(4096) -- 64 KiB in 16 KiB chunks
    local slept = false
    local entry = assert(s:upload("@my", { data = data }, { name = "oauth.bin", chunk_size = 16384,
      flow = "session", progress = function(done)
        if done >= 16384 and not slept then
          slept = true
          helper.sh("sleep 1.2")
        end
      end }))
    assert.equal(#data, entry.pureContentLength)
    local parts = {}
    assert(s:download(entry.id, function(chunk) parts[#parts + 1] = chunk end))
    assert.equal(data, table.concat(parts))
    assert.equal(1, refreshes())
    s:close()
  end)

  it("refreshes while a file operation is polled, and the operation ends", function()
    local s = expiring(1)
    local slept = false
    local op = assert(s:operation("copy", { folderIds = { 2001 }, fileIds = onlyoffice.array({}),
      destFolderId = 1001 }, { progress = function()
        if not slept then
          slept = true
          helper.sh("sleep 1.2")
        end
      end }))
    assert.is_true(op.finished)
    assert.equal(1, refreshes())
    s:close()
  end)

  it("traces the refresh like any request, without a secret", function()
    local lines = {}
    local s, t = expiring(1, { trace = function(line) lines[#lines + 1] = line end })
    helper.sh("sleep 1.2")
    assert(s:get("people/@self"))
    assert.same({ "> GET /api/2.0/people/@self", "< 401", "> POST /oauth2/token", "< 200",
      "> GET /api/2.0/people/@self", "< 200" }, (function()
        local short = {}
        for i, line in ipairs(lines) do
          short[i] = line:gsub(" %(%d+ bytes%)$", "")
        end
        return short
      end)())
    local all = table.concat(lines, "\n")
    for _, secret in ipairs({ t.access_token, t.refresh_token, creds.CLIENT_SECRET, s:token() }) do
      assert.is_nil(all:find(secret, 1, true))
    end
    s:close()
  end)

  it("retries a key session's 429 and closes cleanly from the trace mid-call", function()
    local admin = assert(onlyoffice.login(url, helper.USER, helper.PASSWORD))
    local key = assert(admin:post("keys", { name = "seams" })).key
    admin:close()
    local s
    s = onlyoffice.session(url, key, { retries = 2, max_retry_wait = 0.2, trace = function(line)
      if line:match("^< 429") then
        s:close()
      end
    end })
    portal:control("throttle", { count = 1 })
    local data, err, detail = s:get("people/@self")
    assert.is_nil(data)
    assert.equal("closed", detail.kind, err)
    assert.equal("onlyoffice.session (closed)", tostring(s))
  end)

  it("closes from on_refresh: the call ends as closed and nothing is left busy", function()
    local s
    s = expiring(1, { on_refresh = function() s:close() end })
    helper.sh("sleep 1.2")
    local data, _, detail = s:get("people/@self")
    assert.is_nil(data)
    assert.equal("closed", detail.kind)
    assert.equal("onlyoffice.session (closed)", tostring(s))
  end)
end)
