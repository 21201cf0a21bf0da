/* onlyoffice.core: the C half of the module. The public API lives in lua/onlyoffice. */
#include <errno.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "compat.h"
#include "answer.h"
#include "batch.h"
#include "credentials.h"
#include "curl_memory.h"
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
        { "integers", oo_integers },
#endif
        { "utf8_valid", oo_utf8_valid },
        { NULL, NULL }
    };
    /* Each Lua state may call it; never cleaned up, since other code in the
     * process may use libcurl too. */
    if (oo_curl_init() != CURLE_OK)
        return luaL_error(L, "libcurl failed to initialise");
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    oo_credentials_register(L);
    push_curl_version(L);
    oo_session_register(L);
    lua_setfield(L, -2, "methods");
    return 1;
}
