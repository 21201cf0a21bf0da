/* Checks and fix-ups of what the portal sent. */
#ifndef ONLYOFFICE_ANSWER_H
#define ONLYOFFICE_ANSWER_H

#include <lua.h>

#if LUA_VERSION_NUM >= 503
/* core.integers(value) -> value, integral floats made integers (for cjson builds without integers). */
int oo_integers(lua_State *L);
#endif
/* core.utf8_valid(text) -> true | false, position */
int oo_utf8_valid(lua_State *L);

#endif
