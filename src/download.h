/* Streamed downloads into a file (atomically) or a Lua function. */
#ifndef ONLYOFFICE_DOWNLOAD_H
#define ONLYOFFICE_DOWNLOAD_H

#include <lua.h>

/* core.download(s, target, sink [, progress]) */
int oo_download(lua_State *L);

#endif
