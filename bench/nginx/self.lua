-- Writes a DocSpace people/@self answer of about 1.6 KB (the envelope included).
local cjson = require "cjson"
local profile = {
  firstName = "Ada", lastName = "Example", userName = "ada.example", email = "bench@example.com",
  status = 1, activationStatus = 1, department = "Research and Development",
  workFrom = "2021-03-01T00:00:00.0000000+00:00", location = "Riga",
  notes = ("Maintains the document automation service. "):rep(5),
  displayName = "Ada Example", title = "Senior Engineer", isAdmin = false, isOwner = false, isVisitor = false,
  isCollaborator = false, isLDAP = false, isSSO = false, cultureName = "en-US", mobilePhone = "+37120000000",
  mobilePhoneActivationStatus = 0, isRoomAdmin = true, quotaLimit = -1, usedSpace = 123456789,
  id = "f3c7e2a0-5b4d-4e8f-9a1b-2c3d4e5f6a7b", hasAvatar = true, avatarMax = "/storage/userPhotos/root/max.png",
  avatarMedium = "/storage/userPhotos/root/medium.png", avatar = "/storage/userPhotos/root/big.png",
  avatarSmall = "/storage/userPhotos/root/small.png", profileUrl = "http://127.0.0.1/accounts/view/ada.example",
  listAdminModules = { "people", "files", "settings" }, theme = "System", loginEventId = 42,
  contacts = { { type = "mail", value = "ada@example.org" }, { type = "phone", value = "+37120000001" } },
  groups = { { id = "0a1b2c3d-0000-4000-8000-000000000001", name = "Engineering", manager = "ada.example" },
    { id = "0a1b2c3d-0000-4000-8000-000000000002", name = "Reviewers", manager = "grace.hopper" } },
}
local doc = cjson.encode({ response = profile, count = 1, links = { { href = "http://127.0.0.1/api/2.0/people/@self",
  action = "GET" } }, status = 0, statusCode = 200 })
io.write(doc)
io.stderr:write(#doc, " bytes\n")
