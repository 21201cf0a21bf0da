/* onlyoffice.core: the C half of the module. The public API lives in lua/onlyoffice.
 *
 * What takes a session (making one, sending, the credentials, redaction) is
 * private: core.internals() hands it over once per Lua state (the mark is in
 * the registry, so clearing package.loaded does not reset it), and the Lua
 * layer takes it at once; no require-able table lets other code test a
 * password guess or swap a session's token. The Lua layer's module table is
 * kept beside the mark, so loading "onlyoffice" again gives the same table. */
#include <errno.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <openssl/rand.h>

#include "answer.h"
#include "compat.h"
#include "curl_memory.h"
#include "files.h"
#include "redact.h"
#include "secrets.h"
#include "send.h"
#include "session.h"
#include "webhook.h"

/* core.sleep(seconds): between retries; at most a day, whatever is asked. */
static int core_sleep(lua_State *L)
{
    double t = luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(t > 0))
        return 0;
    if (t > 86400)
        t = 86400;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
}

/* core.clock(): seconds on a monotonic clock, for deadlines that must not
 * move with the wall clock (an operation's polling timeout). */
static int core_clock(lua_State *L)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return luaL_error(L, "clock_gettime failed");
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.random(): a number in [0, 1) from OpenSSL's generator, for the jitter
 * of retry waits: LuaJIT never seeds math.random, so every process would wait
 * the same times, and the caller's own generator is left alone. */
static int core_random(lua_State *L)
{
    unsigned char b[4];
    unsigned long v;
    if (RAND_bytes(b, (int)sizeof b) != 1)
        return luaL_error(L, "no random bytes from OpenSSL");
    v = ((unsigned long)b[0] << 24) | ((unsigned long)b[1] << 16) | ((unsigned long)b[2] << 8) | b[3];
    lua_pushnumber(L, (lua_Number)v / 4294967296.0);
    return 1;
}

static void push_curl_version(lua_State *L)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    lua_pushstring(L, v->version);
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, v->ssl_version ? v->ssl_version : "none");
    lua_setfield(L, -2, "ssl_version");
}

#define OO_TAKEN "onlyoffice.core: internals taken"
#define OO_PENDING "onlyoffice.core: internals pending"
#define OO_MODULE "onlyoffice.core: module"

/* remember(M): the module built on the internals, for core.module(); the
 * hand-over is complete. */
static int remember(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, OO_MODULE);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, OO_PENDING);
    return 0;
}

/* core.module() -> the onlyoffice module already built in this state, or nil. */
static int module(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, OO_MODULE);
    return 1;
}

/* core.internals() -> the private functions, the first time; raises after
 * the Lua layer has built on them. A load that failed before that (out of
 * memory) gets the same table again when it is retried. */
static int internals(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, OO_PENDING);
    if (lua_istable(L, -1))
        return 1;
    lua_getfield(L, LUA_REGISTRYINDEX, OO_TAKEN);
    if (lua_toboolean(L, -1))
        return luaL_error(L, "onlyoffice.core: the internals were already taken");
    lua_newtable(L);
    oo_session_private(L);
    oo_secrets_private(L);
    oo_redact_private(L);
    oo_send_private(L);
    oo_session_register(L);
    lua_setfield(L, -2, "methods");
    lua_pushcfunction(L, remember);
    lua_setfield(L, -2, "remember");
    /* Taken only once the table is whole: building it may run out of memory. */
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, OO_PENDING);
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, OO_TAKEN);
    return 1;
}

#if defined(_WIN32)
#define OO_EXPORT __declspec(dllexport)
#else
#define OO_EXPORT __attribute__((visibility("default")))
#endif

OO_EXPORT int luaopen_onlyoffice_core(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "sleep", core_sleep },
        { "clock", core_clock },
        { "random", core_random },
#if LUA_VERSION_NUM >= 503
        { "integers", oo_integers },
#endif
        { "utf8_valid", oo_utf8_valid },
        { "module", module },
        { "internals", internals },
        { NULL, NULL }
    };
    if (oo_curl_init() != CURLE_OK)
        return luaL_error(L, "libcurl failed to initialise");
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    oo_files_register(L);
    oo_webhook_register(L);
    oo_resume_register(L);
    push_curl_version(L);
    return 1;
}
