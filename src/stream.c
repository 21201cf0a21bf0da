#include "stream.h"

#include <lauxlib.h>

void oo_stream_init(oo_stream *st, lua_State *L, int progress, curl_off_t done, curl_off_t total)
{
    st->L = L;
    st->progress = progress;
    st->done = done;
    st->total = total;
    st->err_ref = LUA_NOREF;
}

int oo_stream_failed(const oo_stream *st)
{
    return st->err_ref != LUA_NOREF;
}

int oo_stream_call(oo_stream *st, int nargs, int nres)
{
    if (oo_stream_failed(st)) {
        lua_pop(st->L, nargs + 1);
        return -1;
    }
    if (lua_pcall(st->L, nargs, nres, 0) != 0) {
        st->err_ref = luaL_ref(st->L, LUA_REGISTRYINDEX);
        return -1;
    }
    return 0;
}

int oo_stream_advance(oo_stream *st, curl_off_t n)
{
    st->done += n;
    if (st->progress == 0 || n == 0)
        return oo_stream_failed(st) ? -1 : 0;
    lua_pushvalue(st->L, st->progress);
    lua_pushinteger(st->L, (lua_Integer)st->done);
    if (st->total >= 0)
        lua_pushinteger(st->L, (lua_Integer)st->total);
    else
        lua_pushnil(st->L);
    return oo_stream_call(st, 2, 0);
}

void oo_stream_raise(oo_stream *st)
{
    if (!oo_stream_failed(st))
        return;
    lua_rawgeti(st->L, LUA_REGISTRYINDEX, st->err_ref);
    luaL_unref(st->L, LUA_REGISTRYINDEX, st->err_ref);
    st->err_ref = LUA_NOREF;
    lua_error(st->L);
}
