-- The module's version: the one place it is written. api.lua publishes it as
-- onlyoffice._VERSION and builds the default User-Agent from it; tools/release
-- names the released rockspec after it, and ./run checks that they agree.
return "0.3.0"
