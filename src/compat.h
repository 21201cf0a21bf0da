/* Lua 5.1 / LuaJIT / 5.2 / 5.3 / 5.4 differences used by the module. */
#ifndef ONLYOFFICE_COMPAT_H
#define ONLYOFFICE_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM == 501
#define lua_rawlen(L, i) lua_objlen((L), (i))
#endif

/* LuaJIT 2.1 already provides luaL_setfuncs and luaL_testudata (from 5.2). */
#if LUA_VERSION_NUM == 501 && !defined(LUAJIT_VERSION)
#define luaL_setfuncs oo_compat_setfuncs
#define luaL_testudata oo_compat_testudata
void oo_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *oo_compat_testudata(lua_State *L, int i, const char *tname);
#endif

#endif
