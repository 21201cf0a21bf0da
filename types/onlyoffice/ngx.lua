---@meta onlyoffice.ngx
-- LuaCATS definitions of onlyoffice.ngx (see types/onlyoffice.lua).

--- A service account's portal calls from nginx request handlers: subrequests to
--- an internal location (`examples/nginx/onlyoffice.conf`), one shared token or
--- OAuth grant per credential across all workers, one login attempt per burst.
---@class onlyoffice.ngx
local ngx_helper = {}

--- Settings of `onlyoffice.ngx.new`. The credentials themselves (password, API
--- key, OAuth client and tokens) come from the environment or `credentials_file`;
--- passing them here raises.
---@class onlyoffice.ngx.Settings
---@field dict? string the lua_shared_dict for tokens, locks and back-offs (default "onlyoffice")
---@field location? string the internal location (default "/_onlyoffice")
---@field url? string the portal root (default: from `url_env` or the file)
---@field username? string the user name (default: from `username_env` or the file)
---@field credentials_file? string a file of `key = value` lines, mode 0600 or 0400, owned by the workers' user
---@field options? onlyoffice.Options session options; not the curl-only ones, `transport`, `location`, `code` or `relogin`
---@field login_wait? number seconds a call waits for another caller's login or refresh (default 75; 1 to 3600)
---@field on_refresh? fun(tokens: onlyoffice.Tokens) told the new OAuth tokens once per rotation: persist them
---@field url_env? string variable with the portal URL (default "ONLYOFFICE_URL")
---@field username_env? string variable with the user name (default "ONLYOFFICE_USER")
---@field password_env? string variable with the password (default "ONLYOFFICE_PASSWORD")
---@field api_key_env? string variable with the API key (default "ONLYOFFICE_API_KEY")
---@field client_id_env? string variable with the OAuth client id (default "ONLYOFFICE_CLIENT_ID")
---@field client_secret_env? string variable with the OAuth client secret (default "ONLYOFFICE_CLIENT_SECRET")
---@field refresh_token_env? string variable with the OAuth refresh token (default "ONLYOFFICE_REFRESH_TOKEN")
---@field access_token_env? string variable with the OAuth access token to start with (default "ONLYOFFICE_ACCESS_TOKEN")

--- Options of `portal:request`: no headers or timeout of its own (the internal location sets those).
---@class onlyoffice.ngx.RequestOptions
---@field query? onlyoffice.Query query parameters
---@field body? table|string a table is sent as JSON, a string as it is

--- A helper from `onlyoffice.ngx.new`. Its calls work in `rewrite`, `access`
--- and `content` handlers, and return what a session's calls return.
---@class onlyoffice.ngx.Portal
local Portal = {}

--- Checks the settings (raising at the caller's line) and returns a helper;
--- nothing is read, locked or sent until its first call.
---@param settings? onlyoffice.ngx.Settings
---@return onlyoffice.ngx.Portal portal
function ngx_helper.new(settings) end

--- `GET path`.
---@param path string the path
---@param query? onlyoffice.Query query parameters
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Portal:get(path, query) end

--- `POST path`.
---@param path string the path
---@param body? table|string the body
---@param query? onlyoffice.Query query parameters
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Portal:post(path, body, query) end

--- `PUT path`.
---@param path string the path
---@param body? table|string the body
---@param query? onlyoffice.Query query parameters
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Portal:put(path, body, query) end

--- `DELETE path`.
---@param path string the path
---@param query? onlyoffice.Query query parameters
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Portal:delete(path, query) end

--- Any method, with a query and a body.
---@param method string the HTTP method
---@param path string the path
---@param options? onlyoffice.ngx.RequestOptions
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Portal:request(method, path, options) end

return ngx_helper
