-- The emulator's DocSpace answers against the official OpenAPI schemas: a subset
-- extracted into spec/schemas/docspace.json (its x-source names the file and commit),
-- checked by spec/support/schema.lua on the raw JSON, so that an empty array sent
-- as {} or a missing envelope field fails here.
local helper = require "spec.helper"
local schema = require "spec.support.schema"

local doc = schema.decode(assert(helper.read_file(helper.root .. "/spec/schemas/docspace.json")))

local q = helper.quote

-- The raw body of a request made with curl: method, url, token, extra curl arguments.
local function raw(method, url, token, extra)
  return helper.sh(("curl -s -X %s %s %s %s"):format(method,
    token and ("-H " .. q("Authorization: " .. token)) or "", extra or "", q(url)))
end

local function conforms(name, text)
  local errors = schema.validate(doc, name, schema.decode(text))
  assert(#errors == 0, name .. ":\n  " .. table.concat(errors, "\n  ") .. "\n" .. text:sub(1, 400))
end

describe("conformance to the DocSpace OpenAPI schemas", function()
  local portal, url, token
  setup(function()
    portal = helper.start()
    url = portal.docspace .. "/api/2.0/"
    local login = raw("POST", url .. "authentication", nil, "-H 'Content-Type: application/json' -d "
      .. q('{"userName":"' .. helper.USER .. '","password":"' .. helper.PASSWORD .. '"}'))
    conforms("AuthenticationTokenWrapper", login)
    token = schema.decode(login).response.token
  end)
  teardown(function() portal:stop() end)

  it("names its source", function()
    assert.matches("ONLYOFFICE/DocSpace%-server .*api%-docs%.json @ %x+", doc["x-source"].file)
  end)

  it("people/@self is an EmployeeFullDto", function()
    conforms("EmployeeFullWrapper", raw("GET", url .. "people/@self", token))
  end)

  it("files/@my and files/{id} are FolderContentDtos, pages and an empty page too", function()
    conforms("FolderContentIntegerWrapper", raw("GET", url .. "files/@my", token))
    conforms("FolderContentIntegerWrapper", raw("GET", url .. "files/1001?startIndex=100&count=50", token))
    local empty = raw("GET", url .. "files/1001?startIndex=1000", token)
    conforms("FolderContentIntegerWrapper", empty)
    assert.matches('"files":%[%]', empty)
    assert.matches('"folders":%[%]', empty)
  end)

  it("files/file/{id} is a FileDto", function()
    conforms("FileIntegerWrapper", raw("GET", url .. "files/file/100001", token))
  end)

  it("a created folder is a FolderDto", function()
    conforms("FolderIntegerWrapper", raw("POST", url .. "files/folder/1001", token,
      "-H 'Content-Type: application/json' -d '{\"title\":\"Reports\"}'"))
  end)

  it("an upload answers a list of FileDtos", function()
    local dir = helper.sh("mktemp -d /tmp/onlyoffice-conf.XXXXXX"):match("%S+")
    helper.write_file(dir .. "/r.txt", "report")
    conforms("FileIntegerArrayWrapper", raw("POST", url .. "files/@my/upload", token,
      "-F file=@" .. q(dir .. "/r.txt")))
    helper.sh("rm -rf " .. q(dir))
  end)

  it("the two-factor challenge and the logout envelope conform", function()
    conforms("AuthenticationTokenWrapper", raw("POST", url .. "authentication", nil,
      "-H 'Content-Type: application/json' -d '{\"userName\":\"tfa@example.com\",\"password\":\"correct-horse-7\"}'"))
    conforms("ObjectWrapper", raw("POST", url .. "authentication/logout", nil,
      "-H " .. q("Cookie: asc_auth_key=" .. token)))
  end)

  it("the validator refuses what the emulator used to send", function()
    local old = '{"response":{"files":{},"folders":{},"current":{"id":1001,"title":"My documents"},'
      .. '"pathParts":[],"startIndex":0,"count":0,"total":0,"new":0},"status":0,"statusCode":200}'
    local errors = schema.validate(doc, "FolderContentIntegerWrapper", schema.decode(old))
    local text = table.concat(errors, "\n")
    assert.matches("$.count: required", text, 1, true)
    assert.matches("$.response.files: object, expected array", text, 1, true)
    assert.matches("$.response.current.parentId: required", text, 1, true)
    errors = schema.validate(doc, "FileIntegerWrapper", schema.decode('{"response":{"id":"7","fileType":9,'
      .. '"created":"yesterday"},"count":1,"status":0,"statusCode":200}'))
    text = table.concat(errors, "\n")
    assert.matches("$.response.id: string, expected integer", text, 1, true)
    assert.matches("$.response.fileType: 9 not in the enum", text, 1, true)
    assert.matches("$.response.created: not a date-time", text, 1, true)
    -- The spec's enums reach through allOf and $ref: FileShare, FolderType, FileEntryType.
    errors = schema.validate(doc, "FolderIntegerWrapper", schema.decode('{"response":{"id":7,"title":"x",'
      .. '"access":12,"rootFolderType":4,"fileEntryType":3,"type":9,"shared":false,"rootFolderId":1,'
      .. '"security":null,"created":"2026-01-01T00:00:00Z","parentId":1,"filesCount":0,"foldersCount":0,'
      .. '"new":0},"count":1,"status":0,"statusCode":200}'))
    text = table.concat(errors, "\n")
    assert.matches("$.response.access: 12 not in the enum", text, 1, true)
    assert.matches("$.response.rootFolderType: 4 not in the enum", text, 1, true)
    assert.matches("$.response.fileEntryType: 3 not in the enum", text, 1, true)
    assert.matches("$.response.type: 9 not in the enum", text, 1, true)
    assert.equal(4, #errors)
    errors = schema.validate(doc, "AuthenticationTokenWrapper", schema.decode('{"response":{"token":"t",'
      .. '"expires":"soon","tfa":false},"count":1,"status":0,"statusCode":200}'))
    text = table.concat(errors, "\n")
    assert.matches("$.response.expires: not a date-time", text, 1, true)
    assert.matches("$.response.sms: required, missing", text, 1, true)
  end)
end)
