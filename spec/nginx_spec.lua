-- onlyoffice.ngx inside a real nginx (Debian's, with its Lua module on LuaJIT)
-- in front of the portal emulator; requests come from the curl command line.
local helper = require "spec.helper"

local sh = helper.sh

-- status, body of one GET
local function get(url)
  local out = sh("curl -s -m 20 -w '\\n%{http_code}' '" .. url .. "'")
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

-- n concurrent GETs: a table status -> count
local function get_many(url, n)
  local out = sh(("seq %d | xargs -P %d -I{} curl -s -m 30 -o /dev/null -w '%%{http_code}\\n' '%s'")
    :format(n, n, url))
  local counts = {}
  for code in out:gmatch("%d+") do
    counts[tonumber(code)] = (counts[tonumber(code)] or 0) + 1
  end
  return counts
end

local function start_app(portal, vars)
  local v = { PORTAL = portal.docspace, UPSTREAM = portal.docspace:match("//(.*)"), TRUST = portal.cafile,
    PASSWORD = helper.PASSWORD, USER = helper.USER, CREDENTIALS = "/nonexistent", API_KEY = "" }
  for k, x in pairs(vars or {}) do
    v[k] = x
  end
  return helper.start({ template = helper.root .. "/spec/support/app.conf", workers = v.WORKERS or 2, vars = v })
end

-- Starts n GETs of url in the background, writing each answer (status last)
-- to DIR/out.i; wait(dir) waits for them.
local function background(url, n)
  local dir = sh("mktemp -d /tmp/onlyoffice-ngx.XXXXXX"):match("%S+")
  sh(("cd %s; for i in $(seq %d); do (curl -s -m 60 -w '\\n%%{http_code}' '%s' > out.$i; touch done.$i) "
    .. ">/dev/null 2>&1 & done"):format(dir, n, url))
  return dir
end

local function collect(dir, n)
  sh(("cd %s; for i in $(seq 600); do [ $(ls done.* 2>/dev/null | wc -l) -ge %d ] && break; sleep 0.1; done")
    :format(dir, n))
  local answers = {}
  for i = 1, n do
    answers[i] = helper.read_file(dir .. "/out." .. i) or ""
  end
  sh("rm -rf '" .. dir .. "'")
  return answers
end

local function attempts(portal)
  return portal:control("stats").attempts[helper.USER]
end

describe("onlyoffice.ngx in nginx", function()
  local portal, app
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)
  before_each(function()
    portal:reset()
    app = start_app(portal)
  end)
  after_each(function() app:stop() end)

  it("serves portal data from a request handler", function()
    local status, body = get(app.url .. "/me")
    assert.equal(200, status)
    assert.same({ name = "Ada Example", email = helper.USER }, require("cjson").decode(body))
    local dstatus, dbody = get(app.url .. "/documents?page=2")
    assert.equal(200, dstatus)
    local doc = require("cjson").decode(dbody)
    assert.equal(2, doc.page)
    assert.equal(25, #doc.files)
  end)

  it("logs in once for many concurrent first requests across two workers", function()
    local counts = get_many(app.url .. "/me", 40)
    assert.equal(40, counts[200])
    assert.equal(1, portal:logins())
    get_many(app.url .. "/me", 20)
    assert.equal(1, portal:logins())
  end)

  it("logs in once more after the token is revoked, for every worker", function()
    get_many(app.url .. "/me", 10)
    assert.equal(1, portal:logins())
    portal:control("revoke", { user = helper.USER })
    local counts = get_many(app.url .. "/me", 30)
    assert.equal(30, counts[200])
    assert.equal(2, portal:logins())
  end)

  it("keeps answering other requests while slow portal calls are in flight", function()
    local dir = sh("mktemp -d /tmp/onlyoffice-ngx.XXXXXX"):match("%S+")
    -- Three 1.5 s portal calls in the background; /fast and /me must answer before any ends.
    sh(("cd %s; for i in 1 2 3; do curl -s -m 20 '%s/slow?ms=1500' > slow.$i & done; sleep 0.3; "
      .. "curl -s -m 20 '%s/fast' > fast; curl -s -m 20 '%s/me' > me; "
      .. "for i in 1 2 3; do [ -s slow.$i ] && echo slow.$i; done > early; wait")
      :format(dir, app.url, app.url, app.url))
    assert.equal("fast\n", helper.read_file(dir .. "/fast"))
    assert.matches(helper.USER, helper.read_file(dir .. "/me"), 1, true)
    assert.equal("", helper.read_file(dir .. "/early"), "a slow call finished before the fast requests")
    for i = 1, 3 do
      assert.equal("ok slow\n", helper.read_file(dir .. "/slow." .. i))
    end
    sh("rm -rf '" .. dir .. "'")
  end)

  it("reads the credentials from a file inside the thread", function()
    local file = app.prefix .. "/credentials"
    helper.write_file(file, "# portal account\nurl = " .. portal.docspace .. "\nusername = " .. helper.USER
      .. "\npassword = " .. helper.PASSWORD .. "\n")
    sh("chmod 644 '" .. file .. "'")
    local other = start_app(portal, { CREDENTIALS = file })
    local _, refused = get(other.url .. "/me_file") -- readable by others: refused
    sh("chmod 600 '" .. file .. "'")
    local status, body = get(other.url .. "/me_file")
    other:stop()
    assert.matches("must be a regular file of the reading user with mode 0600 or 0400", refused, 1, true)
    assert.equal(200, status)
    assert.equal("ok " .. helper.USER .. "\n", body)
  end)

  it("makes one login attempt for a burst of calls with a wrong password, and shares its failure", function()
    local wrong = start_app(portal, { PASSWORD = "wrong-horse-8" })
    local counts = get_many(wrong.url .. "/me", 40)
    local status, body = get(wrong.url .. "/me")
    local log = helper.read_file(wrong.prefix .. "/error.log") or ""
    wrong:stop()
    assert.equal(41, (counts[503] or 0) + 1, "every client gets the login failure")
    assert.equal(1, attempts(portal), "one attempt at the portal for all workers and calls")
    assert.equal(503, status)
    assert.matches('"kind":"login"', body, 1, true)
    assert.matches("login failed: HTTP 401", log, 1, true)
    assert.is_nil(log:find("wrong-horse-8", 1, true))
  end)

  it("counts logins whose clients went away, and waits out the back-off after two in a row", function()
    local wrong = start_app(portal, { PASSWORD = "wrong-horse-8" })
    portal:control("login_delay", { ms = 1500 })
    for _ = 1, 2 do -- each holder's client leaves mid-login; its lease lapses 5 s later
      sh("curl -s -m 0.4 -o /dev/null '" .. wrong.url .. "/me'; sleep 5.5")
    end
    local status, body = get(wrong.url .. "/me")
    wrong:stop()
    portal:control("login_delay", { ms = 0 })
    assert.equal(2, attempts(portal), "the second holder tried once more, the third did not")
    assert.equal(503, status)
    assert.matches('"kind":"login"', body, 1, true)
  end)

  it("reports the portal's brute-force block as such, and backs off from it", function()
    -- Six failures from this address block the account: even the right password gets 403.
    for _ = 1, 6 do
      local s = require("onlyoffice").login(portal.docspace, helper.USER, "wrong-horse-8", { retries = 0 })
      assert.is_nil(s)
    end
    local before = attempts(portal)
    local counts = get_many(app.url .. "/me", 10)
    local log = helper.read_file(app.prefix .. "/error.log") or ""
    assert.equal(10, counts[503])
    assert.equal(before + 1, attempts(portal))
    assert.matches("HTTP 403: Too many login attempts. Please try again later (the portal's brute-force block", log,
      1, true)
    local _, body = get(app.url .. "/me")
    assert.matches('"throttled":true', body, 1, true)
    assert.equal(before + 1, attempts(portal))
  end)

  it("loses no call in flight on a reload or a quit", function()
    for _, signal in ipairs({ "HUP", "QUIT" }) do
      local dir = background(app.url .. "/slow?ms=1500", 8)
      sh("sleep 0.5; kill -" .. signal .. " $(cat '" .. app.prefix .. "/nginx.pid')")
      local answers = collect(dir, 8)
      for i = 1, 8 do
        assert.equal("ok slow\n\n200", answers[i], signal .. ": call " .. i)
      end
    end
  end)

  it("raises a clear error for a call from a timer, where nginx has no subrequests", function()
    local _, body = get(app.url .. "/timer")
    assert.matches("allows only in rewrite, access and content handlers, not in timer", body, 1, true)
    assert.matches("nginx_handlers.lua", body, 1, true) -- at the caller's line
    assert.equal(0, attempts(portal))
  end)

  it("refuses a typo in the options in new, before any call, and leaves no lock", function()
    local status, body = get(app.url .. "/typo")
    assert.equal(200, status)
    assert.matches('unknown option "timeuot"', body, 1, true)
    assert.matches("\n0\n$", body) -- the shared dict is empty: nothing was attempted
    assert.equal(200, (get(app.url .. "/me")))
    assert.equal(1, attempts(portal))
  end)

  it("keeps helpers with different options apart, sharing their login, and sends nothing of the client's", function()
    local out = sh("curl -s -m 20 -H 'Cookie: client=1' -H 'Authorization: Basic Y2xpZW50' -H 'X-Client: 1' '"
      .. app.url .. "/echo'")
    local seen = require("cjson").decode(out)
    local other = require("cjson").decode(sh("curl -s -m 20 '" .. app.url .. "/echo_options'"))
    assert.is_nil(seen.cookie)
    assert.is_nil(seen["x-client"])
    assert.is_truthy(portal:valid(seen.authorization))
    assert.equal("lua-onlyoffice/" .. require("onlyoffice.version") .. " (nginx)", seen["user-agent"])
    assert.equal("spec-agent", other["user-agent"])
    assert.equal(seen.authorization, other.authorization, "one login per credentials")
    assert.equal(1, portal:logins())
    -- A POST without a body sends an empty one, whether the handler read the client's or not.
    for _, read in ipairs({ "?read=1", "" }) do
      local posted = require("cjson").decode(sh("curl -s -m 20 -X POST --data 'client-secret=hunter2' '"
        .. app.url .. "/echo_post" .. read .. "'"))
      assert.same({ body = "", length = "0", ctype = "" }, posted)
    end
  end)

  it("keys the token by the credentials: a reload with another user logs that user in", function()
    assert.matches(helper.USER, select(2, get(app.url .. "/me")), 1, true)
    local conf = helper.read_file(app.prefix .. "/nginx.conf")
    helper.write_file(app.prefix .. "/nginx.conf",
      (conf:gsub("ONLYOFFICE_USER=[^;]*;", "ONLYOFFICE_USER=pascal@example.com;")))
    sh("kill -HUP $(cat '" .. app.prefix .. "/nginx.pid'); sleep 1")
    local status, body = get(app.url .. "/me")
    assert.equal(200, status)
    assert.matches("pascal@example.com", body, 1, true)
    assert.equal(1, portal:logins("pascal@example.com"))
  end)

  it("keeps a helper's own failures to itself, and backs off briefly from a portal that cannot log in", function()
    -- Its trace raises in its calls, never in the login all helpers share.
    local counts = get_many(app.url .. "/trace_raises", 5)
    assert.equal(5, counts[500], "200: " .. tostring(counts[200]) .. ", 502: " .. tostring(counts[502]))
    assert.equal(200, (get(app.url .. "/me")))
    assert.equal(1, attempts(portal))
    portal:control("login_fault", { status = 503 })
    portal:control("revoke", { user = helper.USER })
    get_many(app.url .. "/me", 10)
    local hits = portal:control("hits").hits["GET /api/2.0/people/@self"]
    local _, failed = get(app.url .. "/me")
    portal:control("login_fault", { status = 0 })
    assert.equal(2, attempts(portal))
    assert.equal(hits, portal:control("hits").hits["GET /api/2.0/people/@self"],
      "during the back-off the refused token is not tried again")
    assert.matches('"kind":"login"', failed, 1, true)
    sh("sleep 1.2") -- a 503's back-off: 1 s, not the 15 s of a refused password
    assert.equal(200, (get(app.url .. "/me")))
    assert.equal(3, attempts(portal))
  end)

  it("raises a mistake in a call's arguments at the caller's line, before any login", function()
    local _, body = get(app.url .. "/bad_args")
    assert.matches("nginx_handlers.lua:%d+: path must be a string, got number", body)
    local _, mistakes = get(app.url .. "/request_mistakes")
    local lines = {}
    for line in mistakes:gmatch("[^\n]+") do
      lines[#lines + 1] = line
    end
    assert.matches("nginx_handlers.lua:%d+: GET requests have no body", lines[1])
    assert.matches("nginx_handlers.lua:%d+: onlyoffice.ngx: a request's own headers and timeout", lines[2])
    assert.matches("nginx_handlers.lua:%d+: onlyoffice.ngx: a request's own headers and timeout", lines[3])
    assert.equal(0, attempts(portal))
  end)

  it("takes a 401 from an endpoint that refuses every token as that endpoint's, not the token's", function()
    local counts = get_many(app.url .. "/always401", 20)
    assert.equal(20, counts[502])
    assert.equal(1, portal:logins(), "no new login for an endpoint's own refusal")
    assert.equal(200, (get(app.url .. "/me")))
  end)

  it("refuses to send anything to a location that is not onlyoffice.conf's", function()
    local _, body = get(app.url .. "/wrong_location")
    assert.matches("/fast is not the internal location of onlyoffice.conf (it answered 200)", body, 1, true)
    assert.equal(0, attempts(portal))
    assert.equal(200, (get(app.url .. "/me")), "the right location's helper is not held back")
  end)

  it("refuses to send from a server{} without the include, though another server's was checked", function()
    local one = start_app(portal, { WORKERS = 1 }) -- the same worker serves both servers
    assert.equal(200, (get(one.url .. "/me")))
    local status = get(one.url2 .. "/me_elsewhere")
    local _, caught = get(one.url .. "/caught")
    local log = helper.read_file(one.prefix .. "/error.log") or ""
    one:stop()
    assert.equal(500, status)
    assert.equal("|;\n", caught, "only the probe arrived there: no body, no token")
    assert.matches("/_onlyoffice is not the internal location of onlyoffice.conf", log, 1, true)
    assert.equal(1, attempts(portal))
  end)

  it("answers HEAD over the subrequests", function()
    local _, body = get(app.url .. "/head")
    assert.equal("200 0", body:match("[^\n]+"))
  end)

  it("keeps one login when it outlasts the lock's lease, and callers that wait less time out", function()
    portal:control("login_delay", { ms = 6000 })
    local dir = background(app.url .. "/me", 10)
    sh("sleep 0.3")
    local status, body = get(app.url .. "/me_short_wait")
    local answers = collect(dir, 10)
    portal:control("login_delay", { ms = 0 })
    assert.equal(504, status)
    assert.matches("timed out after 1 s waiting for another caller's login", body, 1, true)
    for i = 1, 10 do
      assert.matches("200$", answers[i])
    end
    assert.equal(1, attempts(portal))
    assert.equal(200, (get(app.url .. "/me_short_wait")))
    assert.equal(1, attempts(portal))
  end)

  it("runs the whole module over subrequests in a handler: batch, retries, redirects, re-login, close", function()
    local status, body = get(app.url .. "/seams")
    assert.equal(200, status, body)
    local out = require("cjson").decode(body)
    assert.equal(helper.USER, out.email)
    assert.same({ true, true, 404 }, out.batch)
    assert.equal(2, out.retried_hits)
    assert.equal(helper.USER, out.redirected)
    assert.is_true(out.leak_hidden)
    assert.is_true(out.leak_starred)
    assert.matches("need the curl transport", out.upload, 1, true)
    assert.is_true(out.relogged)
    assert.matches("session is in use", out.second_thread, 1, true)
    assert.is_true(out.first_thread)
    assert.same({ true, "session is closed", "closed" }, out.closed)
    assert.equal("portal", out.accel)
    assert.equal("/api/2.0/emu/echo?q=a%20b%09X-Injected:%201", out.redirect_uri)
    assert.matches("need the curl transport", out.batch_refused, 1, true)
    assert.equal(1, out.batch_sent, "nothing of the batch was sent")
    assert.equal("too_large", out.huge)
    assert.same({ "closed", 2 }, out.retry_after_close) -- the 503, then the check itself: no retry
    assert.equal("too_large", out.too_large)
    assert.equal("> POST /api/2.0/authentication (login)", out.traced)
  end)

  it("checks the portal's certificate through the internal location", function()
    local upstream = portal.https:match("//(.*)")
    -- nginx checks DNS names (its certificate has localhost), not IP addresses.
    local port = upstream:match(":(%d+)$")
    local good = start_app(portal, { PORTAL = "https://localhost:" .. port, UPSTREAM = upstream })
    local status, body = get(good.url .. "/me")
    good:stop()
    local before = attempts(portal)
    -- The same server under a name its certificate does not cover.
    local wrong = start_app(portal, { PORTAL = "https://portal.invalid:" .. port, UPSTREAM = upstream })
    local wstatus, wbody = get(wrong.url .. "/me")
    local log = helper.read_file(wrong.prefix .. "/error.log") or ""
    wrong:stop()
    assert.equal(200, status, body)
    assert.equal(502, wstatus)
    assert.matches('"kind":"network"', wbody, 1, true)
    assert.matches("the portal did not answer (nginx: HTTP 502, see its error log)", log, 1, true)
    assert.matches('upstream SSL certificate does not match "portal.invalid"', log, 1, true)
    assert.equal(1, before)
    assert.equal(before, attempts(portal), "nothing reached the portal over the unverified connection")
  end)

  it("never writes the token or the password to the error log", function()
    get_many(app.url .. "/me", 5)
    portal:control("revoke", { user = helper.USER })
    get(app.url .. "/me")
    local log = helper.read_file(app.prefix .. "/error.log") or ""
    assert.is_nil(log:find(helper.PASSWORD, 1, true))
  end)
end)

describe("onlyoffice.ngx with an API key or OAuth tokens", function()
  local portal, dir
  local cjson = require "cjson"
  setup(function() portal = helper.start() end)
  teardown(function() portal:stop() end)
  before_each(function()
    portal:reset()
    dir = sh("mktemp -d /tmp/onlyoffice-ngxauth.XXXXXX"):match("%S+")
  end)
  after_each(function() sh("rm -rf '" .. dir .. "'") end)

  -- A new key of the test user, made through the portal's own route (one login).
  local function new_key()
    local s = assert(require("onlyoffice").login(portal.docspace, helper.USER, helper.PASSWORD))
    local k = assert(s:post("keys", { name = "nginx key" }))
    s:close()
    return k.key, k.id
  end

  local function stats()
    return portal:control("credentials")
  end

  local function dict(app)
    return cjson.decode(select(2, get(app.url .. "/dict")))
  end

  -- A credentials file (mode 0600) with OAuth tokens the portal granted, for
  -- access tokens that live `ttl` seconds; and an empty ".rotated" file that
  -- the spec's on_refresh fills.
  local function oauth_file(ttl, user, name)
    portal:control("oauth_ttl", { seconds = ttl })
    local t = portal:control("oauth_grant", { user = user or helper.USER, scopes = "*" })
    local creds = require "portal_credentials"
    local file = dir .. "/" .. (name or "oauth")
    helper.write_file(file, "url = " .. portal.docspace .. "\nclient_id = " .. creds.CLIENT_ID
      .. "\nclient_secret = " .. creds.CLIENT_SECRET .. "\naccess_token = " .. t.access_token
      .. "\nrefresh_token = " .. t.refresh_token .. "\n")
    helper.write_file(file .. ".rotated", "")
    sh("chmod 600 '" .. file .. "' '" .. file .. ".rotated'")
    return file, t
  end

  it("serves calls with an API key and no login; a refused key's 401 goes to the client as it is", function()
    local key, id = new_key()
    local app = start_app(portal, { PASSWORD = "", API_KEY = key })
    local counts = get_many(app.url .. "/me", 30)
    local before, logins = dict(app), portal:logins()
    local admin = assert(require("onlyoffice").login(portal.docspace, helper.USER, helper.PASSWORD))
    assert.is_true(admin:put("keys/" .. id, { isActive = false }))
    admin:close()
    local refused = get_many(app.url .. "/me", 10)
    local status, body = get(app.url .. "/me")
    local after = dict(app)
    app:stop()
    assert.equal(30, counts[200])
    assert.equal(1, logins, "new_key's login, and none by the helper")
    assert.equal(10, refused[502])
    assert.equal(502, status)
    local answer = cjson.decode(body)
    assert.same({ "auth", 401 }, { answer.kind, answer.status })
    assert.equal(2, portal:logins(), "and the admin's: a refused key logs nothing in")
    assert.same({ salt = 1 }, before.keys, "nothing shared but the salt")
    assert.same({ salt = 1 }, after.keys, "a refused key leaves no lock, token or failure")
  end)

  it("raises when a password and an API key are both configured, and sends nothing", function()
    local key = new_key()
    local app = start_app(portal, { API_KEY = key })
    local _, body = get(app.url .. "/me_checked")
    app:stop()
    assert.matches("raised: .*nginx_handlers.lua:%d+: onlyoffice.ngx: a password and an API key are configured",
      body)
    assert.is_nil(body:find(key, 1, true))
    assert.equal(0, stats().key_uses)
    assert.equal(1, portal:logins())
  end)

  it("refreshes expired OAuth tokens once for 40 concurrent calls across two workers", function()
    local file = oauth_file(2)
    local app = start_app(portal, { PASSWORD = "", CREDENTIALS = file })
    assert.equal(200, (get(app.url .. "/oauth_me")), "the configured access token")
    assert.equal(0, stats().refreshes)
    sh("sleep 2.2") -- expired; new ones live an hour
    portal:control("oauth_ttl", { seconds = 3600 })
    local counts = get_many(app.url .. "/oauth_me", 40)
    local seen = dict(app)
    local after = stats()
    app:stop()
    assert.equal(40, counts[200])
    assert.equal(1, after.refreshes)
    assert.equal(0, after.refused)
    assert.equal(1, seen.on_refresh, "on_refresh heard of the one rotation once")
    -- What on_refresh saved serves a new nginx, whose dict is empty.
    local again = start_app(portal, { PASSWORD = "", CREDENTIALS = file .. ".rotated" })
    local status = get(again.url .. "/oauth_me")
    again:stop()
    assert.equal(200, status)
    assert.same({ 1, 0 }, { stats().refreshes, stats().refused })
    assert.equal(0, portal:logins())
  end)

  it("exchanges an authorization code over the nginx transport, without the secret in a message", function()
    local app = start_app(portal, { PASSWORD = "" })
    local code = portal:control("oauth_code", { user = helper.USER }).code
    local creds = require "portal_credentials"
    local client = "&id=" .. creds.CLIENT_ID .. "&secret="
    local status, body = get(app.url .. "/exchange?code=" .. code .. client .. creds.CLIENT_SECRET)
    local again, abody = get(app.url .. "/exchange?code=" .. code .. client .. creds.CLIENT_SECRET)
    local wrong, wbody = get(app.url .. "/exchange?code=not-a-real-code-123" .. client .. "wrong-client-secret-42")
    local log = helper.read_file(app.prefix .. "/error.log") or ""
    app:stop()
    assert.same({ 200, "ok Bearer\n" }, { status, body })
    assert.same({ 502, "auth 400 nil\ntoken exchange failed: HTTP 400: invalid_grant\n" }, { again, abody })
    assert.equal(502, wrong)
    assert.matches("invalid_client", wbody, 1, true)
    assert.is_nil(wbody:find("wrong-client-secret-42", 1, true))
    assert.is_nil(log:find("wrong-client-secret-42", 1, true))
    assert.equal(1, stats().code_exchanges)
    local form = stats().last_token_form
    assert.matches("client_secret=wrong-client-secret-42", form, 1, true) -- what reached the portal
  end)

  it("keeps two users of one OAuth app apart, and takes up a grant authorized anew", function()
    local file = oauth_file(3600)
    oauth_file(3600, "pascal@example.com", "oauth.2")
    local app = start_app(portal, { PASSWORD = "", CREDENTIALS = file })
    local a, abody = get(app.url .. "/oauth_me")
    local b, bbody = get(app.url .. "/oauth_me2")
    assert.same({ 200, 200 }, { a, b })
    assert.matches("pascal@example.com", bbody, 1, true)
    assert.matches(helper.USER, abody, 1, true)
    -- The first file now holds a grant of the second user, and no access token:
    -- after a reload its refresh token goes first, and the calls are that user's.
    local creds = require "portal_credentials"
    local t = portal:control("oauth_grant", { user = "pascal@example.com", scopes = "*" })
    helper.write_file(file, "url = " .. portal.docspace .. "\nclient_id = " .. creds.CLIENT_ID
      .. "\nclient_secret = " .. creds.CLIENT_SECRET .. "\nrefresh_token = " .. t.refresh_token .. "\n")
    sh("kill -HUP $(cat '" .. app.prefix .. "/nginx.pid'); sleep 1.2")
    local _, after = get(app.url .. "/oauth_me")
    app:stop()
    assert.matches("pascal@example.com", after, 1, true)
    assert.same({ 1, 0 }, { stats().refreshes, stats().refused })
  end)

  it("finishes a refresh whose client went away, and keeps the rotated tokens", function()
    local file = oauth_file(1)
    local app = start_app(portal, { PASSWORD = "", CREDENTIALS = file })
    sh("sleep 1.2")
    portal:control("oauth_ttl", { seconds = 3600 })
    portal:control("oauth_delay", { ms = 1500 })
    local gone = sh("curl -s -m 0.5 -o /dev/null -w '%{http_code}' '" .. app.url .. "/oauth_me'")
    sh("sleep 1.5")
    portal:control("oauth_delay", { ms = 0 })
    local counts = get_many(app.url .. "/oauth_me", 10)
    local seen = dict(app)
    app:stop()
    assert.equal("000", gone)
    assert.equal(10, counts[200])
    assert.same({ 1, 0 }, { stats().refreshes, stats().refused })
    assert.equal(1, seen.on_refresh)
  end)

  it("keeps the rotated refresh token in the dict across a reload", function()
    local file = oauth_file(2) -- expires_in 2: renewed a second early
    local app = start_app(portal, { PASSWORD = "", CREDENTIALS = file })
    assert.equal(200, (get(app.url .. "/oauth_me")))
    sh("sleep 2.2")
    assert.equal(200, (get(app.url .. "/oauth_me")))
    assert.equal(1, stats().refreshes)
    sh("kill -HUP $(cat '" .. app.prefix .. "/nginx.pid'); sleep 1.2")
    -- The file still holds the first, spent, refresh token: the dict's is used.
    local counts = get_many(app.url .. "/oauth_me", 10)
    local seen = dict(app)
    app:stop()
    assert.equal(10, counts[200])
    assert.same({ 2, 0 }, { stats().refreshes, stats().refused })
    assert.equal(2, seen.on_refresh)
  end)

  it("refreshes only when people/@self refuses the token too", function()
    local file = oauth_file(3600)
    local app = start_app(portal, { PASSWORD = "", CREDENTIALS = file })
    local counts = get_many(app.url .. "/oauth_me?path=emu/always401", 10)
    local status = get(app.url .. "/oauth_me")
    app:stop()
    assert.equal(10, counts[502])
    assert.equal(200, status)
    assert.equal(0, stats().refreshes)
  end)

  it("gives every client kind auth after the grant is revoked, with one refused refresh", function()
    local file = oauth_file(3600)
    local app = start_app(portal, { PASSWORD = "", CREDENTIALS = file })
    assert.equal(200, (get(app.url .. "/oauth_me")))
    portal:control("oauth_revoke", { user = helper.USER })
    local counts = get_many(app.url .. "/oauth_me", 20)
    local status, body = get(app.url .. "/oauth_me")
    local more = get_many(app.url .. "/oauth_me", 10)
    local seen = dict(app)
    app:stop()
    assert.equal(20, counts[502])
    assert.equal(10, more[502])
    assert.equal(502, status)
    assert.matches("^auth 400 nil\n", body)
    assert.matches("invalid_grant", body, 1, true)
    assert.same({ 0, 1 }, { stats().refreshes, stats().refused })
    assert.equal(0, seen.on_refresh)
  end)
end)
