-- Written by tools/release from onlyoffice-scm-1.rockspec and lua/onlyoffice/version.lua: edit those.
rockspec_format = "3.0"
package = "onlyoffice"
version = "0.3.0-1"

source = {
  url = "https://github.com/onlyoffice-lua/onlyoffice/archive/v0.3.0.tar.gz",
  dir = "onlyoffice-0.3.0",
}

description = {
  summary = "ONLYOFFICE portal REST API client (DocSpace and Workspace) in C on libcurl",
  detailed = [[
Log in to an ONLYOFFICE DocSpace or Workspace portal and make authenticated REST
calls from Lua 5.1-5.4 or LuaJIT (OpenResty/nginx included): one kept-alive
libcurl connection per session, JSON through lua-cjson, re-login on revoked
tokens, retries on throttling, and credentials that never reach logs or other hosts.
]],
  license = "MIT",
  homepage = "https://github.com/onlyoffice-lua/onlyoffice",
}

dependencies = {
  "lua >= 5.1",
  "lua-cjson >= 2.1.0",
}

external_dependencies = {
  -- Only the library: Debian keeps curl/curl.h in a multiarch folder that
  -- LuaRocks does not search, while the compiler finds it by itself.
  CURL = { library = "curl" },
}

build = {
  type = "builtin",
  modules = {
    ["onlyoffice"] = "lua/onlyoffice/init.lua",
    ["onlyoffice.api"] = "lua/onlyoffice/api.lua",
    ["onlyoffice.args"] = "lua/onlyoffice/args.lua",
    ["onlyoffice.auth"] = "lua/onlyoffice/auth.lua",
    ["onlyoffice.batch"] = "lua/onlyoffice/batch.lua",
    ["onlyoffice.cli"] = "lua/onlyoffice/cli.lua",
    ["onlyoffice.cli_json"] = "lua/onlyoffice/cli_json.lua",
    ["onlyoffice.cli_progress"] = "lua/onlyoffice/cli_progress.lua",
    ["onlyoffice.credentials"] = "lua/onlyoffice/credentials.lua",
    ["onlyoffice.download"] = "lua/onlyoffice/download.lua",
    ["onlyoffice.emulator"] = "lua/onlyoffice/emulator.lua",
    ["onlyoffice.flow"] = "lua/onlyoffice/flow.lua",
    ["onlyoffice.json"] = "lua/onlyoffice/json.lua",
    ["onlyoffice.ngx"] = "lua/onlyoffice/ngx.lua",
    ["onlyoffice.ngx_credentials"] = "lua/onlyoffice/ngx_credentials.lua",
    ["onlyoffice.oauth"] = "lua/onlyoffice/oauth.lua",
    ["onlyoffice.operation"] = "lua/onlyoffice/operation.lua",
    ["onlyoffice.pages"] = "lua/onlyoffice/pages.lua",
    ["onlyoffice.pipeline"] = "lua/onlyoffice/pipeline.lua",
    ["onlyoffice.response"] = "lua/onlyoffice/response.lua",
    ["onlyoffice.resume"] = "lua/onlyoffice/resume.lua",
    ["onlyoffice.subrequest"] = "lua/onlyoffice/subrequest.lua",
    ["onlyoffice.token_file"] = "lua/onlyoffice/token_file.lua",
    ["onlyoffice.upload"] = "lua/onlyoffice/upload.lua",
    ["onlyoffice.version"] = "lua/onlyoffice/version.lua",
    ["onlyoffice.webhook"] = "lua/onlyoffice/webhook.lua",
    -- The portal emulator, for onlyoffice.emulator: installed as onlyoffice/emulator/*,
    -- where nginx's lua_package_path then points (emulator/control.lua).
    ["onlyoffice.emulator.control"] = "emulator/control.lua",
    ["onlyoffice.emulator.hmac_sha256"] = "emulator/hmac_sha256.lua",
    ["onlyoffice.emulator.portal"] = "emulator/portal.lua",
    ["onlyoffice.emulator.portal_credentials"] = "emulator/portal_credentials.lua",
    ["onlyoffice.emulator.portal_downloads"] = "emulator/portal_downloads.lua",
    ["onlyoffice.emulator.portal_fileops"] = "emulator/portal_fileops.lua",
    ["onlyoffice.emulator.portal_limits"] = "emulator/portal_limits.lua",
    ["onlyoffice.emulator.portal_product"] = "emulator/portal_product.lua",
    ["onlyoffice.emulator.portal_uploads"] = "emulator/portal_uploads.lua",
    ["onlyoffice.emulator.portal_webhooks"] = "emulator/portal_webhooks.lua",
    ["onlyoffice.core"] = {
      sources = {
        "src/answer.c", "src/buffer.c", "src/callback.c", "src/compat.c", "src/core.c", "src/curl_memory.c",
        "src/files.c", "src/part.c", "src/redact.c", "src/request.c", "src/resume.c", "src/secret.c",
        "src/secrets.c", "src/send.c", "src/session.c", "src/sink.c", "src/webhook.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      -- m: floor(); pthread: the once-only libcurl init; dl: the module pins itself
      -- in memory (libcurl keeps pointers into it), since no linker flag gets here.
      -- crypto: HMAC-SHA256 for webhook signatures (OpenSSL, which libcurl uses too).
      libraries = { "curl", "crypto", "m", "pthread", "dl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
  },
  install = {
    -- The command-line tool; LuaRocks wraps it to run with the Lua the rock was built for.
    bin = { onlyoffice = "bin/onlyoffice" },
    -- Not Lua, so not a module: LuaRocks copies it next to them, as onlyoffice/emulator/nginx.conf.
    lua = { ["onlyoffice.emulator.nginx"] = "emulator/nginx.conf" },
  },
  -- types/: LuaCATS definitions for lua-language-server (add the folder to
  -- Lua.workspace.library; `luarocks show --rock-dir onlyoffice` prints where it is).
  copy_directories = { "examples", "types" },
}

test = {
  type = "command",
  command = "./run tests",
}
