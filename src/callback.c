#include "callback.h"

#include <lauxlib.h>

/* Runs inside lua_pcall: 1 = the user's function, 2 = the oo_cb. Returns one
 * value: the reader's string, a stop message, or nothing useful (nil). */
static int run(lua_State *L)
{
    oo_cb *cb = (oo_cb *)lua_touserdata(L, 2);
    lua_settop(L, 1);
    switch (cb->op) {
    case OO_CB_SINK:
        lua_pushlstring(L, cb->data, cb->len);
        lua_call(L, 1, 2);
        /* ltn12: a sink answers nil, err (or false) to stop; nothing at all is fine. */
        if (lua_toboolean(L, 1) || (lua_isnil(L, 1) && lua_isnil(L, 2)))
            return 0;
        lua_pushfstring(L, "%s", lua_isstring(L, 2) ? lua_tostring(L, 2) : "no reason given");
        lua_pushboolean(L, 1);
        return 2;
    case OO_CB_PROGRESS:
        lua_pushinteger(L, (lua_Integer)cb->done);
        if (cb->total >= 0)
            lua_pushinteger(L, (lua_Integer)cb->total);
        else
            lua_pushnil(L);
        lua_call(L, 2, 0);
        return 0;
    case OO_CB_READER:
        lua_call(L, 0, 2);
        if (lua_type(L, 1) == LUA_TSTRING) {
            lua_settop(L, 1);
            return 1;
        }
        if (lua_isnil(L, 1) && lua_isnil(L, 2))
            return 0;
        if (lua_isnil(L, 1)) {
            lua_pushfstring(L, "%s", lua_isstring(L, 2) ? lua_tostring(L, 2) : "the reader failed");
            lua_pushboolean(L, 1);
            return 2;
        }
        lua_pushliteral(L, "the reader must return strings, then nil at the end");
        lua_pushboolean(L, 1);
        return 2;
    }
    return 0;
}

void oo_cb_push_runner(lua_State *L)
{
    lua_pushcfunction(L, run);
}

enum oo_cb_result oo_cb_call(lua_State *L, int runner, int fn, int error, int *raised, oo_cb *cb)
{
    int top = lua_gettop(L);
    lua_pushvalue(L, runner);
    lua_pushvalue(L, fn);
    lua_pushlightuserdata(L, cb);
    if (lua_pcall(L, 2, 2, 0) != 0) {
        if (!*raised)
            lua_replace(L, error);
        else
            lua_pop(L, 1);
        *raised = 1;
        return OO_CB_RAISED;
    }
    if (lua_toboolean(L, -1)) { /* a stop: message below the flag */
        lua_pop(L, 1);
        return OO_CB_STOP;
    }
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
        return OO_CB_OK;
    lua_settop(L, top);
    return cb->op == OO_CB_READER ? OO_CB_END : OO_CB_OK;
}
