/* libFuzzer target over what the module parses and checks: portal answers
 * (JSON bodies, envelopes, error bodies, content types), UTF-8, and what users
 * pass in (paths, queries, header values, tokens). The Lua half, fuzz/answers.lua,
 * runs the module's own code on each input and returns false when a property
 * breaks; this file links the C core in, instrumented, and aborts on that. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_onlyoffice_core(lua_State *L);

static lua_State *state(void)
{
    static lua_State *L; /* one VM for the whole run: the fuzzer calls us in a loop */
    if (L)
        return L;
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_onlyoffice_core);
    lua_setfield(L, -2, "onlyoffice.core");
    lua_pop(L, 1);
    if (luaL_dofile(L, "fuzz/answers.lua") != 0) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setglobal(L, "check");
    return L;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = state();
    lua_getglobal(L, "check");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        fprintf(stderr, "unexpected error: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (!lua_toboolean(L, -1))
        abort();
    lua_pop(L, 1);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
