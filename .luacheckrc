std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["emulator/portal.lua"] = { globals = { "ngx" } }
files["emulator/portal_*.lua"] = { globals = { "ngx" } }
files["examples/nginx"] = { globals = { "ngx" } }
files["lua/onlyoffice/ngx.lua"] = { read_globals = { "ngx" } }
files["spec/support/nginx_handlers.lua"] = { globals = { "ngx" } }
files["emulator/portal_fileops.lua"] = { globals = { "ngx" } }
files["examples/*_spec.lua"] = { std = "+busted" }
