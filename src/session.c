/* Session lifecycle: creation from options, header lists, one idempotent close. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "batch.h"
#include "compat.h"
#include "secret.h"

#define OO_DEFAULT_TIMEOUT 60.0
#define OO_DEFAULT_CONNECT_TIMEOUT 10.0
#define OO_DEFAULT_MAX_BODY (64u * 1024u * 1024u)
#define OO_USER_AGENT "lua-onlyoffice/0.1.0"

int oo_header_safe(const char *s, size_t n)
{
    return memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL &&
           memchr(s, '\0', n) == NULL;
}

oo_session *oo_session_check(lua_State *L, int i)
{
    return (oo_session *)luaL_checkudata(L, i, OO_SESSION_MT);
}

/* The Authorization line holds the token: wipe it before libcurl frees it. */
void oo_headers_free(struct curl_slist *l)
{
    struct curl_slist *p;
    for (p = l; p != NULL; p = p->next)
        if (strncmp(p->data, "Authorization:", 14) == 0)
            oo_wipe(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

static struct curl_slist *append_all(struct curl_slist *to, const struct curl_slist *from)
{
    for (; from != NULL && to != NULL; from = from->next)
        to = curl_slist_append(to, from->data);
    return to;
}

/* One list: Accept, optional Authorization and Content-Type, user headers, and
 * an empty Expect that stops libcurl waiting for 100-continue on large bodies. */
static struct curl_slist *header_list(const oo_session *s, int auth, int json)
{
    struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
    if (l && auth && s->token) {
        oo_buffer line = { NULL, 0, 0 };
        struct curl_slist *n = NULL;
        if (oo_buffer_addstr(&line, "Authorization: ") == 0 &&
            oo_buffer_add(&line, s->token, strlen(s->token) + 1) == 0)
            n = curl_slist_append(l, line.data);
        oo_buffer_wipe(&line);
        oo_buffer_free(&line);
        l = n;
    }
    if (l && json)
        l = curl_slist_append(l, "Content-Type: application/json");
    l = append_all(l, s->extra);
    if (l)
        l = curl_slist_append(l, "Expect:");
    return l;
}

int oo_session_build_headers(oo_session *s)
{
    struct curl_slist *api = header_list(s, 1, 0);
    struct curl_slist *api_json = header_list(s, 1, 1);
    struct curl_slist *login = header_list(s, 0, 1);
    if (!api || !api_json || !login) {
        oo_headers_free(api);
        oo_headers_free(api_json);
        oo_headers_free(login);
        return -1;
    }
    oo_headers_free(s->h_api);
    oo_headers_free(s->h_api_json);
    oo_headers_free(s->h_login);
    s->h_api = api;
    s->h_api_json = api_json;
    s->h_login = login;
    return 0;
}

size_t oo_session_on_body(char *p, size_t size, size_t n, void *ud)
{
    oo_session *s = ud;
    size_t len = size * n;
    if (s->body.len + len > s->max_body) {
        s->body_overflow = 1;
        return 0;
    }
    return oo_buffer_add(&s->body, p, len) == 0 ? len : 0;
}

static double opt_seconds(lua_State *L, int opts, const char *name, double def)
{
    double v;
    lua_getfield(L, opts, name);
    v = lua_isnil(L, -1) ? def : lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v > 0))
        luaL_error(L, "option '%s' must be a positive number of seconds", name);
    return v;
}

static const char *opt_string(lua_State *L, int opts, const char *name)
{
    const char *v;
    lua_getfield(L, opts, name);
    v = lua_tostring(L, -1);
    lua_pop(L, 1); /* the options table keeps the string alive */
    return v;
}

static void set_extra_headers(lua_State *L, oo_session *s, int opts)
{
    size_t i, n;
    lua_getfield(L, opts, "headers");
    n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *line;
        struct curl_slist *l;
        lua_rawgeti(L, -1, (int)i);
        line = lua_tolstring(L, -1, &len);
        if (line == NULL || !oo_header_safe(line, len))
            luaL_error(L, "header line %d is not a string without CR, LF or NUL", (int)i);
        l = curl_slist_append(s->extra, line);
        if (l == NULL)
            luaL_error(L, "out of memory");
        s->extra = l;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void configure(lua_State *L, oo_session *s, int opts)
{
    CURL *c = s->curl;
    const char *ua = opt_string(L, opts, "user_agent");
    const char *cafile = opt_string(L, opts, "cafile");
    const char *proxy = opt_string(L, opts, "proxy");
    int verify;
    lua_getfield(L, opts, "verify");
    verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, opts, "max_body");
    s->max_body = lua_isnil(L, -1) ? OO_DEFAULT_MAX_BODY : (size_t)lua_tonumber(L, -1);
    lua_pop(L, 1);

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* Redirects are followed by the Lua layer, only within the portal's origin. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, oo_session_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    s->timeout_ms = (long)(opt_seconds(L, opts, "timeout", OO_DEFAULT_TIMEOUT) * 1000);
    s->stall_s = s->timeout_ms / 1000 > 0 ? s->timeout_ms / 1000 : 1;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(opt_seconds(L, opts, "connect_timeout", OO_DEFAULT_CONNECT_TIMEOUT) * 1000));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, ua ? ua : OO_USER_AGENT);
    if (cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    if (proxy)
        curl_easy_setopt(c, CURLOPT_PROXY, proxy);
    set_extra_headers(L, s, opts);
}

int oo_session_new(lua_State *L)
{
    size_t len;
    const char *base = luaL_checklstring(L, 1, &len);
    oo_session *s;
    luaL_checktype(L, 2, LUA_TTABLE);
    /* The userdata exists before any resource, so __gc frees whatever follows. */
    s = (oo_session *)lua_newuserdata(L, sizeof *s + len + 1);
    memset(s, 0, sizeof *s);
    memcpy(s->base, base, len + 1);
    luaL_getmetatable(L, OO_SESSION_MT);
    lua_setmetatable(L, -2);
    s->redirect_https_only = strncmp(base, "https:", 6) == 0 || strncmp(base, "HTTPS:", 6) == 0;
    s->curl = curl_easy_init();
    if (s->curl == NULL)
        return luaL_error(L, "cannot create a libcurl handle");
    configure(L, s, 2);
    if (oo_session_build_headers(s) != 0)
        return luaL_error(L, "out of memory");
    return 1;
}

static void session_release(oo_session *s)
{
    oo_batch_release(s);
    if (s->curl) {
        curl_easy_cleanup(s->curl);
        s->curl = NULL;
    }
    oo_headers_free(s->h_api);
    oo_headers_free(s->h_api_json);
    oo_headers_free(s->h_login);
    s->h_api = s->h_api_json = s->h_login = NULL;
    curl_slist_free_all(s->extra);
    s->extra = NULL;
    oo_secret_free(&s->password);
    oo_secret_free(&s->token);
    oo_secret_free(&s->username);
    oo_secret_free(&s->expires);
    oo_buffer_wipe(&s->body);
    oo_buffer_free(&s->body);
    oo_buffer_wipe(&s->scratch);
    oo_buffer_free(&s->scratch);
}

/* close, __gc and __close; the last passes an error object, which is ignored. */
static int session_close(lua_State *L)
{
    session_release(oo_session_check(L, 1));
    return 0;
}

static int session_tostring(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    if (s->curl)
        lua_pushfstring(L, "onlyoffice.session (%s)", s->base);
    else
        lua_pushliteral(L, "onlyoffice.session (closed)");
    return 1;
}

/* Pushes v, a field of s, while s is open; nil after close. */
static int push_if_open(lua_State *L, const oo_session *s, const char *v)
{
    if (s->curl && v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int session_token(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    return push_if_open(L, s, s->token);
}

static int session_expires(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    return push_if_open(L, s, s->expires);
}

static int session_url(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    lua_pushstring(L, s->base);
    return 1;
}

void oo_session_register(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__gc", session_close },
        { "__tostring", session_tostring },
#if LUA_VERSION_NUM >= 504
        { "__close", session_close },
#endif
        { NULL, NULL }
    };
    static const luaL_Reg methods[] = {
        { "close", session_close },
        { "token", session_token },
        { "expires", session_expires },
        { "url", session_url },
        { NULL, NULL }
    };
    luaL_newmetatable(L, OO_SESSION_MT);
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, OO_SESSION_MT);
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    lua_remove(L, -2);
}
