/* Multipart file parts sent on a session. */
#ifndef ONLYOFFICE_UPLOAD_H
#define ONLYOFFICE_UPLOAD_H

#include <lua.h>

/* core.send_part(s, target, source, field, filename [, progress, done, total]) */
int oo_send_part(lua_State *L);

#endif
