/* Functions that Lua 5.1 (without LuaJIT) lacks; empty elsewhere. */
#include "compat.h"

#if LUA_VERSION_NUM == 501 && !defined(LUAJIT_VERSION)

void oo_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

#else
typedef int oo_compat_unused; /* ISO C forbids an empty translation unit */
#endif
