---@meta onlyoffice
-- LuaCATS definitions of the public API, for lua-language-server (and the
-- source of the LDoc reference in docs/). Nothing here runs: the module is
-- lua/onlyoffice/*.lua and src/*.c. spec/types_spec.lua keeps the two in step.

--- A client for the REST API of an ONLYOFFICE portal (DocSpace and Workspace):
--- log in once, then make authenticated calls over one kept-alive connection.
---@class onlyoffice
---@field _VERSION string the module's version, such as "0.3.0"
---@field curl_version string the version of libcurl the module runs on
---@field ssl_version string the TLS library libcurl uses, such as "OpenSSL/3.0.11"
---@field null onlyoffice.Null what a JSON null decodes to (`data == onlyoffice.null`)
---@field webhook onlyoffice.webhook webhook signature checks (also `require "onlyoffice.webhook"`)
local onlyoffice = {}

--- JSON null: the value of a `null` in a portal's answer, and what to put in a
--- body to send one. Compare with `==`.
---@class onlyoffice.Null: userdata

---------------------------------------------------------------------------
-- Constructors
---------------------------------------------------------------------------

--- Logs in with `POST /api/2.0/authentication` and returns a session, or
--- `nil, message, detail` (`detail.kind` "login"; two-factor accounts without
--- `options.code` get `detail.tfa` or `detail.sms`). Also `login{ url =, username =, password =, <options> }`.
---@param url string the portal root, `http://` or `https://`, optionally with a path prefix
---@param username string the user's e-mail or login name
---@param password string the password (kept in wiped C memory)
---@param options? onlyoffice.LoginOptions session options, plus `code`, `relogin` and `token_file`
---@return onlyoffice.Session? session the session, or nil on failure
---@return string? message what failed, for people
---@return onlyoffice.Detail? detail what failed, for programs
---@overload fun(t: onlyoffice.LoginArgs): onlyoffice.Session?, string?, onlyoffice.Detail?
function onlyoffice.login(url, username, password, options) end

--- A session from a credential you already have; no login happens. `token` is
--- a login token (one saved from `s:token()`), or a DocSpace API key when it
--- starts with `sk-`. Also `session(url, { api_key = ... })`,
--- `session(url, { access_token = ..., refresh_token = ..., ... })` and
--- `session{ url =, token = | api_key = | access_token =, <options> }`.
--- Argument mistakes raise; nothing is sent.
---@param url string the portal root
---@param token string a login token, or an API key (`sk-...`)
---@param options? onlyoffice.Options session options (not `code`, `relogin` or `token_file`)
---@return onlyoffice.Session session
---@overload fun(url: string, credentials: onlyoffice.SessionCredentials): onlyoffice.Session
---@overload fun(t: onlyoffice.SessionArgs): onlyoffice.Session
function onlyoffice.session(url, token, options) end

--- Exchanges an OAuth2 authorization code (valid for a minute, handed to the
--- app's redirect URI by the portal's consent page) for the first tokens:
--- `POST /oauth2/token` with `grant_type=authorization_code`.
---@param t onlyoffice.ExchangeArgs `url`, `code`, `redirect_uri`, `client_id`, and `client_secret` or `code_verifier`
---@return onlyoffice.Tokens? tokens the tokens, or nil on failure (`detail.kind` "auth" for a refusal)
---@return string? message what failed
---@return onlyoffice.Detail? detail what failed, for programs
function onlyoffice.oauth_exchange(t) end

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

--- Replaces `path` atomically with a new file of mode 0600 holding `text`:
--- for tokens a script keeps.
---@param path string the file to replace
---@param text string what it holds
---@return true? ok true, or nil on failure
---@return string? message what failed
function onlyoffice.write_private(path, text) end

--- `assert` with the module's result rule: raises `message` only when `data`
--- is nil (an answer of `false` passes). Returns all its arguments.
---@generic T
---@param data T? the first value of a call
---@param message? any the second: the failure message
---@param ... any the rest, returned as they are
---@return T data
---@return any ...
function onlyoffice.assert(data, message, ...) end

--- Marks a table to be encoded as a JSON array, so that an empty one is sent
--- as `[]` rather than `{}` (`{ fileIds = onlyoffice.array{} }`). Returns `t`
--- (a new table without one).
---@generic T: table
---@param t? T the list
---@return T list the same table, marked
function onlyoffice.array(t) end

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

--- Options of both constructors. Unknown names, wrong types and values out of
--- range raise at the caller's line; no value means the default.
---@class onlyoffice.Options
---@field timeout? number seconds for a whole API request, connection included (default 60; 0.001 to a year)
---@field connect_timeout? number seconds to connect (default 10; 0.001 to a year)
---@field stall_timeout? integer uploads and downloads fail when less than a byte a second moves for this long (default 60; 1 to 86400)
---@field verify? boolean verify the TLS certificate and host name (default true; never false on a real network)
---@field cafile? string PEM file of CA certificates to trust (default: the system store)
---@field proxy? string proxy URL; "" turns proxies off (default: libcurl's `*_proxy` environment)
---@field user_agent? string the User-Agent header (default "lua-onlyoffice/0.3.0")
---@field headers? table<string, string|number> extra headers for every request to the portal (not Authorization or framing headers)
---@field relogin? boolean `login` only: keep the password to log in again after a 401 (default true)
---@field token_file? string `login` only: keep the token in this file between runs
---@field code? string `login` only: the two-factor code, 1 to 64 letters or digits
---@field retries? integer retries of 429 (any method) and 502/503/504 (GET, HEAD) (default 2; 0 to 100)
---@field max_retry_wait? number longest wait before a retry, in seconds (default 10; 0 to 86400)
---@field max_body? integer largest API answer in bytes (default 64 MiB; 1 to 2^53)
---@field capath? string directory of hashed CA certificates to trust (c_rehash / openssl rehash)
---@field client_cert? string PEM client certificate, for portals that require mutual TLS
---@field client_key? string PEM key of client_cert
---@field client_key_password? string passphrase of an encrypted client_key (a secret: never shown)
---@field pinned_pubkey? string "sha256//<base64>" (several joined by ";") or a public key file: the server's key must match
---@field resolve? string[] "host:port:address" entries that bypass DNS (also "+host:port:address", "-host:port")
---@field ip_resolve? "v4"|"v6"|"any" which addresses a host name may resolve to (default "any")
---@field http_version? "1.0"|"1.1" HTTP version (default "1.1"; HTTP/2 is not offered: nghttp2 keeps token copies)
---@field trace? fun(line: string|onlyoffice.TraceEvent) told `> METHOD /path` before each request and `< status (n bytes)` or `< failed: message` after; with trace_events, tables instead
---@field trace_events? boolean hand `trace` a table per request and per answer instead of a line (needs trace)
---@field transport? "curl"|"ngx" how requests are sent: libcurl (default), or nginx subrequests
---@field location? string transport "ngx" only: the internal location that proxies to the portal (default "/_onlyoffice")

--- What `trace` gets with `trace_events = true`: one table before each request
--- (phase "request") and one after it (phase "response" or "failure").
---@class onlyoffice.TraceEvent
---@field phase "request"|"response"|"failure"
---@field method string
---@field path string the path below the portal root, redacted as trace lines are
---@field attempt integer 1 for the first try, 2 for its first retry, ...
---@field login? boolean true for login requests
---@field status? integer the HTTP status (phase "response")
---@field bytes? integer the answer's size (phase "response")
---@field kind? onlyoffice.Kind why no answer came (phase "failure")
---@field message? string the failure's message (phase "failure")
---@field seconds? number from sending to the answer (phases "response" and "failure")

--- The options `login` takes: every session option, `code`, `relogin` and `token_file` included.
---@class onlyoffice.LoginOptions: onlyoffice.Options

--- `onlyoffice.login{ ... }`: the arguments and the options in one table.
---@class onlyoffice.LoginArgs: onlyoffice.LoginOptions
---@field url string the portal root
---@field username string the user's e-mail or login name
---@field password string the password

--- The credential of a session, by name: exactly one of `api_key` and
--- `access_token`; the OAuth fields need `access_token`, and `client_id`,
--- `client_secret` and `on_refresh` need `refresh_token`. Session options may
--- sit beside them.
---@class onlyoffice.SessionCredentials: onlyoffice.Options
---@field api_key? string a DocSpace API key, sent as `Authorization: Bearer sk-...`
---@field access_token? string an OAuth2 access token, sent as `Authorization: Bearer <token>`
---@field refresh_token? string the OAuth2 refresh token: with it the session refreshes (needs `client_id` and `client_secret`)
---@field client_id? string the OAuth2 client's id
---@field client_secret? string the OAuth2 client's secret (`client_secret_post`)
---@field expires_at? number when the access token expires, in seconds since the epoch
---@field on_refresh? fun(tokens: onlyoffice.Tokens) told the new tokens after every refresh: store them (refresh tokens rotate)

--- `onlyoffice.session{ ... }`: the URL, one credential and the options in one table.
---@class onlyoffice.SessionArgs: onlyoffice.SessionCredentials
---@field url string the portal root
---@field token? string a login token, or an API key (`sk-...`)

--- `onlyoffice.oauth_exchange{ ... }`: exactly one of `client_secret`
--- (a confidential client) and `code_verifier` (PKCE). Session options may
--- sit beside them.
---@class onlyoffice.ExchangeArgs: onlyoffice.Options
---@field url string the portal root
---@field code string the code the consent page handed the redirect URI
---@field redirect_uri string the app's redirect URI, as registered
---@field client_id string the OAuth2 client's id
---@field client_secret? string the client's secret
---@field code_verifier? string the PKCE verifier

--- Options of `s:request`.
---@class onlyoffice.RequestOptions
---@field query? onlyoffice.Query query parameters
---@field body? table|string a table is sent as JSON, a string as it is
---@field headers? table<string, string|number> headers of this request (they replace the session's of the same name)
---@field timeout? number seconds for this request, instead of the session's

--- Query parameters: URL-encoded with sorted keys; a list repeats the key.
---@alias onlyoffice.Query table<string, string|number|boolean|(string|number|boolean)[]>

--- A file or folder id: an integer, or a string id such as "@my".
---@alias onlyoffice.Id integer|string

--- What `s:upload` sends: a file path (streamed from disk), a string, or an
--- ltn12 source of `size` bytes.
---@alias onlyoffice.UploadSource string|{ data: string }|{ reader: (fun(): string?, any?), size: integer }

--- Options of `s:upload`.
---@class onlyoffice.UploadOptions
---@field name? string the file name on the portal (default: the path's last part; required for data and reader sources)
---@field progress? fun(done: integer, total: integer) rising byte counts, the last with done == total
---@field chunked? boolean send in chunks whatever the size
---@field chunk_size? integer bytes per chunk (default and largest 10 MiB)
---@field flow? "session"|"legacy" the chunked flow, instead of asking the portal's version

--- Where `s:download` writes: a file path (replaced atomically), or an ltn12 sink.
---@alias onlyoffice.Target string|fun(chunk: string?, err: string?): any

--- Options of `s:download`.
---@class onlyoffice.DownloadOptions
---@field progress? fun(done: integer, total: integer?) rising byte counts; total is nil while unknown
---@field timeout? number a total limit for this download, in seconds (otherwise only `stall_timeout` applies)
---@field durable? boolean flush the file and its directory to disk before returning
---@field format? string convert on the fly to this extension, such as "pdf"
---@field resume? boolean path targets only: continue where a failed attempt stopped (`<path>.part`)

--- Options of `s:pages`.
---@class onlyoffice.PagesOptions
---@field count? integer entries per page (default 100)

--- Options of `s:batch`.
---@class onlyoffice.BatchOptions
---@field concurrency? integer transfers at once (default 8, at most 50; at most 15 with anything but GET and HEAD)

--- One request of `s:batch`: `{ method, path, ... }` or with `method` and `path` fields.
---@class onlyoffice.BatchRequest
---@field [1]? string the method
---@field [2]? string the path
---@field method? string the method, GET, POST, PUT, DELETE, PATCH or HEAD
---@field path? string the path
---@field query? onlyoffice.Query query parameters
---@field body? table|string the body
---@field headers? table<string, string|number> headers of this request
---@field timeout? number seconds for this request

--- Options of `s:operation`.
---@class onlyoffice.OperationOptions
---@field timeout? number seconds to wait for the end (default 300); then the operation is terminated
---@field progress? fun(percent: number, op: onlyoffice.Operation) called whenever the progress changes

--- What `s:bulk_download` archives: at least one file or folder.
---@class onlyoffice.BulkItems
---@field files? onlyoffice.Id[] file ids
---@field folders? onlyoffice.Id[] folder ids
---@field convert? table<onlyoffice.Id, string> file id -> the extension to convert it to, such as ".pdf"

--- Options of `s:bulk_download`.
---@class onlyoffice.BulkOptions
---@field timeout? number seconds to wait for the operation (default 300)
---@field progress? fun(percent: number, op: onlyoffice.Operation) the operation's progress
---@field transfer_progress? fun(done: integer, total: integer?) the archive's transfer, as `s:download`'s progress
---@field transfer_timeout? number a total limit for the transfer, in seconds
---@field durable? boolean flush the archive to disk before returning

---------------------------------------------------------------------------
-- Results
---------------------------------------------------------------------------

--- The second value of a successful call.
---@class onlyoffice.Info
---@field status integer the HTTP status
---@field headers table<string, string> the answer's headers, lower-case names; a repeated one joined with ", "
---@field count? integer the envelope's `count`
---@field total? integer the envelope's `total`
---@field startIndex? integer the envelope's `startIndex`
---@field nextIndex? integer the envelope's `nextIndex`

--- What failed, for programs: `detail.kind`.
---@alias onlyoffice.Kind
---| "http" # the portal answered with a non-2xx status
---| "network" # no answer: refused, reset, cut off, DNS
---| "timeout" # timeout, connect_timeout or stall_timeout ran out
---| "tls" # the TLS handshake or the certificate check failed
---| "json" # a 2xx answer with broken JSON, or JSON that is not UTF-8
---| "too_large" # the answer is larger than max_body
---| "redirect" # a redirect the module does not follow
---| "login" # a login, or the re-login after a 401, failed
---| "closed" # the session is closed
---| "io" # a download could not be written locally
---| "sink" # a download sink returned nil, err or false
---| "source" # an upload source failed, ended early, gave too much, changed size, or is not a regular file
---| "rate_limit" # a 429 that the retries did not get through
---| "auth" # an API key or OAuth token was refused, or an OAuth refresh failed
---| "operation" # a file operation failed on the portal
---| "range" # a resumed download's answer did not fit the part on disk
---| "config" # onlyoffice.ngx only: its credentials could not be read

--- The third value of a failed call. Which fields are set depends on `kind`.
---@class onlyoffice.Detail
---@field kind onlyoffice.Kind what happened
---@field method? string the request's method
---@field path? string the request's path
---@field status? integer the HTTP status
---@field headers? table<string, string> the answer's headers ("http")
---@field error? any the portal's error object ("http"), or the operation's error text ("operation")
---@field body? string up to 512 bytes of a non-JSON body ("http"), or the broken body ("json")
---@field retry_after? number seconds the portal asked to wait ("http", "rate_limit")
---@field rate_limit? { limit: integer?, remaining: integer?, reset: integer? } the limiter's X-RateLimit-* ("rate_limit")
---@field curl_code? integer libcurl's error code ("network", "timeout", "tls")
---@field timeout? true set for "timeout"
---@field tls? true set for "tls"
---@field location? string the redirect's Location ("redirect")
---@field tfa? boolean two-factor by app is required ("login")
---@field sms? boolean two-factor by SMS is required ("login")
---@field confirm_url? string DocSpace's two-factor set-up link ("login")
---@field phone? string the masked number an SMS went to ("login")
---@field closed? true set for "closed"
---@field errno? integer the system's error number ("io")
---@field chunk? integer the refused chunk of an upload
---@field operation? onlyoffice.Operation the operation's last state ("operation", "timeout", a failed poll)
---@field part? string the kept `.part` file of a resumable download
---@field shared? boolean onlyoffice.ngx: another caller's failed login or refresh
---@field retry_in? number onlyoffice.ngx: seconds until the next login attempt
---@field throttled? boolean onlyoffice.ngx: the portal's brute-force block

--- OAuth2 tokens, as `on_refresh` and `oauth_exchange` give them.
---@class onlyoffice.Tokens
---@field access_token string the access token
---@field refresh_token? string the refresh token (nil when the portal kept the old one)
---@field expires_in? integer the access token's lifetime in seconds
---@field expires_at? integer when it expires, in seconds since the epoch
---@field token_type? string such as "Bearer"
---@field scope? string the granted scopes

--- A file operation (the portal's FileOperationDto), with readable fields added.
---@class onlyoffice.Operation
---@field id string|integer the operation's id
---@field progress? number percent done
---@field finished? boolean whether it ended
---@field error? string the portal's error text
---@field url? string the archive's URL (bulk downloads)
---@field files? table[] the files it touched
---@field folders? table[] the folders it touched
---@field status? integer the portal's status number (3.7.1 and later)
---@field operation? integer the operation's type number (`Operation` or `operation`)
---@field type? "move"|"copy"|"delete"|"download"|"markasread"|"import"|"convert"|"duplicate" the type, readable
---@field state? "created"|"running"|"completed"|"canceled"|"failed" the status, readable

--- One result of `s:batch`: `table.unpack(r, 1, r.n)` gives what the single call returns.
---@class onlyoffice.BatchResult
---@field ok boolean whether the request succeeded
---@field n integer 2 on success, 3 on failure
---@field [1] any data, or nil on failure
---@field [2] onlyoffice.Info|string info, or the failure message
---@field [3]? onlyoffice.Detail the failure's detail

--- What `s:batch` returns: the results in the order of the requests.
---@class onlyoffice.BatchResults
---@field n integer the number of requests
---@field [integer] onlyoffice.BatchResult

---------------------------------------------------------------------------
-- Sessions
---------------------------------------------------------------------------

--- A logged-in session: one kept-alive connection and its credential. Every
--- call returns `data, info` or `nil, message, detail`; it failed exactly
--- when the first value is nil. `tostring(s)` names the portal, never the token.
---@class onlyoffice.Session
local Session = {}

--- `GET path`.
---@param path string below `/api/2.0/` (`people/@self`), or from the portal root when it starts with `/`
---@param query? onlyoffice.Query query parameters
---@return any data the answer's `response` (or decoded JSON, or the body), or nil on failure
---@return onlyoffice.Info|string info the status and headers, or the failure message
---@return onlyoffice.Detail? detail what failed
function Session:get(path, query) end

--- `POST path`.
---@param path string the path
---@param body? table|string a table is sent as JSON, a string as it is
---@param query? onlyoffice.Query query parameters
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Session:post(path, body, query) end

--- `PUT path`.
---@param path string the path
---@param body? table|string a table is sent as JSON, a string as it is
---@param query? onlyoffice.Query query parameters
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Session:put(path, body, query) end

--- `DELETE path`.
---@param path string the path
---@param query? onlyoffice.Query query parameters
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Session:delete(path, query) end

--- Any method: GET, POST, PUT, DELETE, PATCH or HEAD, any case.
---@param method string the HTTP method
---@param path string the path
---@param options? onlyoffice.RequestOptions query, body, headers and timeout of this request
---@return any data
---@return onlyoffice.Info|string info
---@return onlyoffice.Detail? detail
function Session:request(method, path, options) end

--- Uploads a file into a folder: one multipart request, or chunks above
--- `chunk_size`. Returns the created file entry.
---@param folder_id onlyoffice.Id the folder
---@param source onlyoffice.UploadSource a path, `{ data = s }` or `{ reader = f, size = n }`
---@param options? onlyoffice.UploadOptions
---@return table? entry the file entry (`id`, `title`, ...), or nil on failure
---@return string? message
---@return onlyoffice.Detail? detail
function Session:upload(folder_id, source, options) end

--- Streams a file to a path (atomically) or an ltn12 sink.
---@param file_id onlyoffice.Id the file
---@param target onlyoffice.Target a path or a sink
---@param options? onlyoffice.DownloadOptions
---@return integer? bytes the bytes written (the whole file's size when resumed), or nil on failure
---@return string? message
---@return onlyoffice.Detail? detail
function Session:download(file_id, target, options) end

--- Iterates over every entry of a paged listing: `for item, index in s:pages(path) do`.
--- A page that cannot be fetched raises its failure message.
---@param path string a listing, such as `files/@my` or `people`
---@param query? onlyoffice.Query query parameters
---@param options? onlyoffice.PagesOptions
---@return fun(): any, integer iterator the entry and its 1-based index
function Session:pages(path, query, options) end

--- Runs requests concurrently and returns every result, in order.
---@param requests onlyoffice.BatchRequest[] the requests
---@param options? onlyoffice.BatchOptions
---@return onlyoffice.BatchResults results
function Session:batch(requests, options) end

--- Starts an asynchronous file operation (`PUT files/fileops/<kind>`) and polls
--- it until it ends.
---@param kind string a plain word: copy, move, delete, bulkdownload, duplicate, markasread, deleteversion, emptytrash, ...
---@param body? table sent as JSON with `returnSingleOperation = true`
---@param options? onlyoffice.OperationOptions
---@return onlyoffice.Operation? op the finished operation, or nil on failure
---@return string? message
---@return onlyoffice.Detail? detail
function Session:operation(kind, body, options) end

--- Runs a `bulkdownload` operation and streams the archive to `target`, as `s:download` does.
---@param items onlyoffice.BulkItems files, folders and conversions
---@param target onlyoffice.Target a path or a sink
---@param options? onlyoffice.BulkOptions
---@return integer? bytes the bytes written, or nil on failure
---@return string? message
---@return onlyoffice.Detail? detail
function Session:bulk_download(items, target, options) end

--- OAuth sessions with a refresh token: new tokens now (`on_refresh` hears of them).
---@return true? ok true, or nil on failure
---@return string? message
---@return onlyoffice.Detail? detail
function Session:refresh() end

--- Revokes the token on the portal, then closes the session (in every case).
--- API key and OAuth sessions are closed and get `nil, message, { kind = "auth" }`.
---@return true? ok true, or nil on failure
---@return string? message
---@return onlyoffice.Detail? detail
function Session:logout() end

--- Closes the session and wipes its secrets; idempotent. Also runs from
--- `__gc`, and on Lua 5.4 from `local s <close> = ...`.
function Session:close() end

--- The token (an OAuth session's access token); nil once closed and for an API key.
---@return string? token
function Session:token() end

--- The token's expiry as the portal wrote it, or nil.
---@return string? expires
function Session:expires() end

--- The portal root URL.
---@return string url
function Session:url() end

return onlyoffice
