rockspec_format = "3.0"
package = "onlyoffice"
version = "scm-1"

source = {
  url = "git+https://github.com/onlyoffice-lua/onlyoffice.git",
  branch = "main",
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
    ["onlyoffice.args"] = "lua/onlyoffice/args.lua",
    ["onlyoffice.auth"] = "lua/onlyoffice/auth.lua",
    ["onlyoffice.batch"] = "lua/onlyoffice/batch.lua",
    ["onlyoffice.files"] = "lua/onlyoffice/files.lua",
    ["onlyoffice.request"] = "lua/onlyoffice/request.lua",
    ["onlyoffice.json"] = "lua/onlyoffice/json.lua",
    ["onlyoffice.ngx"] = "lua/onlyoffice/ngx.lua",
    ["onlyoffice.response"] = "lua/onlyoffice/response.lua",
    ["onlyoffice.settings"] = "lua/onlyoffice/settings.lua",
    ["onlyoffice.core"] = {
      sources = {
        "src/answer.c", "src/batch.c", "src/buffer.c", "src/compat.c", "src/core.c", "src/credentials.c",
        "src/curl_memory.c", "src/download.c", "src/secret.c", "src/session.c", "src/stream.c", "src/transfer.c",
        "src/upload.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
  },
  copy_directories = { "examples" },
}

test = {
  type = "command",
  command = "./run tests",
}
