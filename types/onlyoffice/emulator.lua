---@meta onlyoffice.emulator
-- LuaCATS definitions of onlyoffice.emulator (see types/onlyoffice.lua).

--- A portal emulator for your own tests: a real nginx (Debian's, with its Lua
--- module) answering like DocSpace or Workspace on a free loopback port.
---@class onlyoffice.emulator
local emulator = {}

--- A user of the emulated portal, by login (e-mail).
---@class onlyoffice.EmulatorUser
---@field password string
---@field name? string the display name
---@field tfa? boolean two-factor with an authenticator app (needs code)
---@field sms? boolean two-factor by SMS (needs code)
---@field code? string the two-factor code the portal accepts
---@field phone? string the masked phone number of an SMS account
---@field id? string the user's id (a GUID; made up when absent)
---@field admin? boolean
---@field owner? boolean

--- A file in "My documents" (or in a folder by title).
---@class onlyoffice.EmulatorFile
---@field title string
---@field content? string
---@field folder? string the title of a folder of "My documents" to put it in

---@class onlyoffice.EmulatorOptions
---@field flavor? "docspace"|"workspace" (default "docspace")
---@field users? table<string, onlyoffice.EmulatorUser> replace the built-in users
---@field files? onlyoffice.EmulatorFile[] "My documents" holds exactly these (default: none)
---@field workers? integer nginx worker processes (default 1)

--- A request the emulator received (bodies are never kept; secret-looking query values are redacted).
---@class onlyoffice.EmulatorRequest
---@field method string
---@field path string
---@field query table<string, string>

---@class onlyoffice.EmulatorFault
---@field status? integer answer this status (none: the usual answer, after the delay)
---@field times? integer how many requests (default 1; 0: every one)
---@field delay_ms? integer wait this long first
---@field method? string only requests of this method

--- A running emulated portal.
---@class onlyoffice.EmulatorPortal
---@field url string the portal root URL
---@field prefix string the private directory nginx runs under
---@field flavor "docspace"|"workspace"
local Portal = {}

--- Revokes every token of user.
---@param user string
function Portal:revoke(user) end

--- Makes the next requests on route (a path below /api/2.0/, or from the root) fail or wait; no opts clears it.
---@param route string
---@param opts? onlyoffice.EmulatorFault
function Portal:fault(route, opts) end

--- The requests received so far, oldest first.
---@return onlyoffice.EmulatorRequest[]
function Portal:requests() end

--- Stops nginx and removes its directory.
function Portal:stop() end

--- Starts an emulated portal. Raises when nginx or its Lua module is missing
--- (Debian: nginx, libnginx-mod-http-lua), or for wrong options.
---@param opts? onlyoffice.EmulatorOptions
---@return onlyoffice.EmulatorPortal
function emulator.start(opts) end

return emulator
