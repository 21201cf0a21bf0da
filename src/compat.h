/* Lua 5.1 / LuaJIT / 5.2 / 5.3 / 5.4 differences used by the module. */
#ifndef ONLYOFFICE_COMPAT_H
#define ONLYOFFICE_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM == 501
#define lua_rawlen(L, i) lua_objlen((L), (i))
#endif

/* LuaJIT 2.1 already provides luaL_setfuncs (from 5.2). */
#if LUA_VERSION_NUM == 501 && !defined(LUAJIT_VERSION)
#define luaL_setfuncs oo_compat_setfuncs
void oo_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
#endif

/* One Lua value kept with a userdata: a user value (5.2+) or its environment (5.1). */
#if LUA_VERSION_NUM >= 504
#define oo_newuserdata(L, n) lua_newuserdatauv((L), (n), 1)
#define oo_setuservalue(L, i) ((void)lua_setiuservalue((L), (i), 1))
#define oo_getuservalue(L, i) ((void)lua_getiuservalue((L), (i), 1))
#elif LUA_VERSION_NUM >= 502
#define oo_newuserdata(L, n) lua_newuserdata((L), (n))
#define oo_setuservalue(L, i) lua_setuservalue((L), (i))
#define oo_getuservalue(L, i) lua_getuservalue((L), (i))
#else
#define oo_newuserdata(L, n) lua_newuserdata((L), (n))
#define oo_setuservalue(L, i) ((void)lua_setfenv((L), (i)))
#define oo_getuservalue(L, i) lua_getfenv((L), (i))
#endif

#endif
