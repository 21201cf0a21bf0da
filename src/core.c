/* onlyoffice.core: the C half of the module. The public API lives in lua/onlyoffice. */
#include <errno.h>
#include <math.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "compat.h"
#include "batch.h"
#include "credentials.h"
#include "download.h"
#include "session.h"
#include "transfer.h"
#include "upload.h"

/* core.sleep(seconds): used between retries. */
static int core_sleep(lua_State *L)
{
    double t = luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(t > 0))
        return 0;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
}

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
static int core_integers(lua_State *L)
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

static void push_curl_version(lua_State *L)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    lua_pushstring(L, v->version);
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, v->ssl_version ? v->ssl_version : "none");
    lua_setfield(L, -2, "ssl_version");
}

#if defined(_WIN32)
#define OO_EXPORT __declspec(dllexport)
#else
#define OO_EXPORT __attribute__((visibility("default")))
#endif

OO_EXPORT int luaopen_onlyoffice_core(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "new", oo_session_new },
        { "perform", oo_perform },
        { "send_part", oo_send_part },
        { "download", oo_download },
        { "batch", oo_batch },
        { "sleep", core_sleep },
#if LUA_VERSION_NUM >= 503
        { "integers", core_integers },
#endif
        { NULL, NULL }
    };
    /* Reference-counted and thread-safe in the libcurl versions the module
     * builds against, so each Lua state may call it; never cleaned up, since
     * other code in the process may use libcurl too. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return luaL_error(L, "libcurl failed to initialise");
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    oo_credentials_register(L);
    push_curl_version(L);
    oo_session_register(L);
    lua_setfield(L, -2, "methods");
    return 1;
}
