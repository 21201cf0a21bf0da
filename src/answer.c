/* Checks and fix-ups of what the portal sent, before and after JSON decoding. */
#include "answer.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "compat.h"

#if LUA_VERSION_NUM >= 503
/* Rewrites, in the table on top of the stack, integral floats as integers. */
static void fix_table(lua_State *L, int depth)
{
    if (depth > 1000)
        luaL_error(L, "JSON nested too deeply");
    luaL_checkstack(L, 4, "JSON nested too deeply");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            if (n == floor(n) && n >= -9007199254740992.0 && n <= 9007199254740992.0) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)n);
                lua_rawset(L, -5);
            }
        } else if (lua_istable(L, -1)) {
            fix_table(L, depth + 1);
        }
        lua_pop(L, 1);
    }
}

/* core.integers(value) -> value: for JSON decoders that give every number as a float. */
int oo_integers(lua_State *L)
{
    if (lua_istable(L, 1)) {
        lua_settop(L, 1);
        fix_table(L, 0);
    } else if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1)) {
        lua_Number n = lua_tonumber(L, 1);
        if (n == floor(n) && fabs(n) <= 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)n);
        else
            lua_settop(L, 1);
    } else {
        lua_settop(L, 1);
    }
    return 1;
}
#endif

/* Length of the UTF-8 sequence starting at p (at most n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
    size_t len, i;
    unsigned long cp;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        cp = p[0] & 0x1Fu;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        cp = p[0] & 0x0Fu;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        return 0;
    return len;
}

/* core.utf8_valid(text) -> true | false, byte position of the first bad sequence */
int oo_utf8_valid(lua_State *L)
{
    size_t n, i = 0;
    const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &n);
    while (i < n) {
        size_t len;
        /* JSON is mostly ASCII: eight bytes at a time while no high bit is set.
         * memcpy keeps the load aligned-agnostic and is one instruction. */
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                i += 8;
                continue;
            }
        }
        len = p[i] < 0x80 ? 1 : utf8_sequence(p + i, n - i);
        if (len == 0) {
            lua_pushboolean(L, 0);
            lua_pushinteger(L, (lua_Integer)i + 1);
            return 2;
        }
        i += len;
    }
    lua_pushboolean(L, 1);
    return 1;
}
