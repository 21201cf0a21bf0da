/* Session lifecycle: creation from checked options, header lists, the busy
 * guard, and one idempotent close for close(), __gc and __close. */
#include "session.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "compat.h"
#include "secret.h"
#include "send.h"

#define OO_DEFAULT_TIMEOUT 60.0
#define OO_DEFAULT_CONNECT_TIMEOUT 10.0
#define OO_DEFAULT_STALL 60.0
#define OO_DEFAULT_MAX_BODY (64.0 * 1024 * 1024)

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

/* curl_slist_append keeps the list when it fails; free it here, so callers can chain. */
struct curl_slist *oo_headers_append(struct curl_slist *to, const char *line)
{
    struct curl_slist *l = curl_slist_append(to, line);
    if (l == NULL)
        oo_headers_free(to);
    return l;
}

int oo_header_same_name(const char *a, const char *b)
{
    const char *colon = strchr(a, ':');
    size_t n = colon ? (size_t)(colon - a) : strlen(a);
    return strncasecmp(a, b, n) == 0 && b[n] == ':';
}

static int named_in(const struct curl_slist *l, const char *line)
{
    for (; l != NULL; l = l->next)
        if (oo_header_same_name(l->data, line))
            return 1;
    return 0;
}

static struct curl_slist *append_authorization(struct curl_slist *l, const char *token, int bearer)
{
    oo_buffer line = { NULL, 0, 0 };
    struct curl_slist *n = NULL;
    if (oo_buffer_addstr(&line, bearer ? "Authorization: Bearer " : "Authorization: ") == 0 &&
        oo_buffer_add(&line, token, strlen(token) + 1) == 0)
        n = oo_headers_append(l, line.data);
    else
        oo_headers_free(l);
    oo_buffer_wipe(&line);
    oo_buffer_free(&line);
    return n;
}

/* One list: Accept, optional Authorization and Content-Type, the session's own
 * headers (portal requests only), and an empty Expect that stops libcurl
 * waiting for 100-continue on large bodies. */
static struct curl_slist *header_list(const oo_session *s, int auth, const char *ctype, int extra)
{
    const struct curl_slist *e, *own = extra ? s->extra : NULL;
    struct curl_slist *l = oo_headers_append(NULL, "Expect:");
    /* The session's own Accept or Content-Type replaces the default one. */
    if (l && !named_in(own, "Accept:"))
        l = oo_headers_append(l, "Accept: application/json");
    if (l && auth && s->token)
        l = append_authorization(l, s->token, s->bearer);
    if (l && ctype && !named_in(own, "Content-Type:"))
        l = oo_headers_append(l, ctype);
    for (e = own; l && e; e = e->next)
        l = oo_headers_append(l, e->data);
    return l;
}

int oo_session_build_headers(oo_session *s)
{
    static const char *const JSON = "Content-Type: application/json";
    static const char *const FORM = "Content-Type: application/x-www-form-urlencoded";
    struct curl_slist *l[5];
    int i;
    l[0] = header_list(s, 1, NULL, 1);
    l[1] = header_list(s, 1, JSON, 1);
    l[2] = header_list(s, 0, JSON, 1);
    l[3] = header_list(s, 0, NULL, 0);
    l[4] = header_list(s, 0, FORM, 1);
    if (!l[0] || !l[1] || !l[2] || !l[3] || !l[4]) {
        for (i = 0; i < 5; i++)
            oo_headers_free(l[i]);
        return -1;
    }
    oo_headers_free(s->h_api);
    oo_headers_free(s->h_api_json);
    oo_headers_free(s->h_login);
    oo_headers_free(s->h_bare);
    oo_headers_free(s->h_form);
    s->h_api = l[0];
    s->h_api_json = l[1];
    s->h_login = l[2];
    s->h_bare = l[3];
    s->h_form = l[4];
    return 0;
}

/* Seconds as milliseconds for libcurl; the Lua layer checked the range, this
 * only keeps the cast defined whatever arrives. */
static long to_ms(double seconds)
{
    double ms = seconds * 1000.0;
    if (!(ms >= 1.0))
        return 1;
    return ms > (double)(LONG_MAX / 2) ? LONG_MAX / 2 : (long)ms;
}

static double opt_number(lua_State *L, int opts, const char *name, double def)
{
    double v;
    lua_getfield(L, opts, name);
    v = lua_isnumber(L, -1) ? (double)lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
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
        lua_rawgeti(L, -1, (int)i);
        line = lua_tolstring(L, -1, &len);
        if (line == NULL || !oo_header_safe(line, len))
            luaL_error(L, "header line %d is not a string without CR, LF or NUL", (int)i);
        if ((s->extra = oo_headers_append(s->extra, line)) == NULL)
            luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Sets a string option; a libcurl built without it raises rather than
 * silently doing less than asked (a pin or a client certificate ignored). */
static void set_string_option(lua_State *L, CURL *c, int opts, const char *name, CURLoption opt)
{
    const char *v = opt_string(L, opts, name);
    if (v && curl_easy_setopt(c, opt, v) != CURLE_OK)
        luaL_error(L, "option \"%s\" is not supported by this libcurl", name);
}

static void set_resolve(lua_State *L, oo_session *s, int opts)
{
    size_t i, n;
    lua_getfield(L, opts, "resolve");
    n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *entry;
        lua_rawgeti(L, -1, (int)i);
        entry = lua_tolstring(L, -1, &len);
        if (entry == NULL || !oo_header_safe(entry, len))
            luaL_error(L, "resolve entry %d is not a string without CR, LF or NUL", (int)i);
        if ((s->resolve = oo_headers_append(s->resolve, entry)) == NULL)
            luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* libcurl keeps the pointer, not a copy: the list lives as long as s. */
    if (s->resolve)
        curl_easy_setopt(s->curl, CURLOPT_RESOLVE, s->resolve);
}

/* Who the session says it is and where and how it connects: user agent,
 * trust, client certificate, pins, name resolution, proxy. The values were checked by the Lua layer (args.lua). */
static void configure_network(lua_State *L, oo_session *s, int opts)
{
    static const struct {
        const char *name;
        CURLoption opt;
    } strings[] = {
        /* The Lua layer always passes a user agent (its default carries the version). */
        { "user_agent", CURLOPT_USERAGENT },
        { "cafile", CURLOPT_CAINFO }, { "capath", CURLOPT_CAPATH }, { "proxy", CURLOPT_PROXY },
        { "client_cert", CURLOPT_SSLCERT }, { "client_key", CURLOPT_SSLKEY },
        /* libcurl keeps its own copy, freed through the wiping allocator. */
        { "client_key_password", CURLOPT_KEYPASSWD }, { "pinned_pubkey", CURLOPT_PINNEDPUBLICKEY },
    };
    CURL *c = s->curl;
    const char *ip = opt_string(L, opts, "ip_resolve");
    const char *http = opt_string(L, opts, "http_version");
    size_t i;
    for (i = 0; i < sizeof strings / sizeof strings[0]; i++)
        set_string_option(L, c, opts, strings[i].name, strings[i].opt);
    curl_easy_setopt(c, CURLOPT_IPRESOLVE, ip && strcmp(ip, "v4") == 0   ? (long)CURL_IPRESOLVE_V4
                                           : ip && strcmp(ip, "v6") == 0 ? (long)CURL_IPRESOLVE_V6
                                                                         : (long)CURL_IPRESOLVE_WHATEVER);
    /* HTTP/1.x only: HTTP/2 keeps header copies (the token) in nghttp2's
     * compression tables and buffers, which the module cannot wipe. */
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     http && strcmp(http, "1.0") == 0 ? (long)CURL_HTTP_VERSION_1_0 : (long)CURL_HTTP_VERSION_1_1);
    set_resolve(L, s, opts);
}

static void configure(lua_State *L, oo_session *s, int opts)
{
    CURL *c = s->curl;
    double max_body = opt_number(L, opts, "max_body", OO_DEFAULT_MAX_BODY);
    double stall = opt_number(L, opts, "stall_timeout", OO_DEFAULT_STALL);
    int verify;
    lua_getfield(L, opts, "verify");
    verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    s->max_body = max_body >= 1.0 && max_body <= 9007199254740992.0 ? (size_t)max_body : (size_t)1;
    s->timeout_ms = to_ms(opt_number(L, opts, "timeout", OO_DEFAULT_TIMEOUT));
    s->stall_s = stall >= 1.0 && stall <= 86400.0 ? (long)stall : 1;

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* Redirects are followed by the Lua layer, under one policy for every call. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     to_ms(opt_number(L, opts, "connect_timeout", OO_DEFAULT_CONNECT_TIMEOUT)));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    set_extra_headers(L, s, opts);
    configure_network(L, s, opts);
}

/* new(base, options) -> session, with an empty state table as its user value. */
static int session_new(lua_State *L)
{
    size_t len;
    const char *base = luaL_checklstring(L, 1, &len);
    oo_session *s;
    luaL_checktype(L, 2, LUA_TTABLE);
    /* The userdata exists before any resource, so __gc frees whatever follows. */
    s = (oo_session *)oo_newuserdata(L, sizeof *s + len + 1);
    memset(s, 0, sizeof *s);
    memcpy(s->base, base, len + 1);
    luaL_getmetatable(L, OO_SESSION_MT);
    lua_setmetatable(L, -2);
    lua_newtable(L);
    oo_setuservalue(L, -2);
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
    oo_send_release(s);
    if (s->curl) {
        curl_easy_cleanup(s->curl);
        s->curl = NULL;
    }
    oo_headers_free(s->h_api);
    oo_headers_free(s->h_api_json);
    oo_headers_free(s->h_login);
    oo_headers_free(s->h_bare);
    oo_headers_free(s->h_form);
    s->h_api = s->h_api_json = s->h_login = s->h_bare = s->h_form = NULL;
    curl_slist_free_all(s->extra);
    s->extra = NULL;
    curl_slist_free_all(s->resolve);
    s->resolve = NULL;
    oo_secret_free(&s->password);
    oo_secret_free(&s->token);
    oo_secret_free(&s->previous);
    oo_secret_free(&s->username);
    oo_secret_free(&s->expires);
    oo_secret_free(&s->refresh);
    oo_secret_free(&s->client_id);
    oo_secret_free(&s->client_secret);
}

/* close, __gc and __close (which passes an error object, ignored). Inside a
 * call the handles are in use: the call closes the session as it returns. */
static int session_close(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    if (s->busy || s->sending)
        s->closing = 1;
    else
        session_release(s);
    return 0;
}

static int session_tostring(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    if (s->curl && !s->closing)
        lua_pushfstring(L, "onlyoffice.session (%s)", s->base);
    else
        lua_pushliteral(L, "onlyoffice.session (closed)");
    return 1;
}

/* Pushes v, a field of s, while s is open; nil after close. */
static int push_if_open(lua_State *L, const oo_session *s, const char *v)
{
    if (s->curl && !s->closing && v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int session_token(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    /* An API key is the caller's own long-lived secret: nothing hands it back. */
    return push_if_open(L, s, s->bearer == OO_KEY ? NULL : s->token);
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

/* enter(s) -> true, or false when a call on s is already running (a callback
 * calling back in); the caller raises, pointing at the user's line. */
static int session_enter(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    lua_pushboolean(L, !s->busy);
    s->busy = 1;
    return 1;
}

/* leave(s) -> true when close was asked for during the call (the caller then
 * logs out or closes). */
static int session_leave(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    lua_pushboolean(L, s->closing);
    s->busy = 0;
    s->closing = 0;
    return 1;
}

/* state(s) -> the session's Lua-side table (options, trace hook, ...). */
static int session_state(lua_State *L)
{
    oo_session_check(L, 1);
    oo_getuservalue(L, 1);
    return 1;
}

/* is_open(s) -> false once closed or closing. */
static int session_is_open(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    lua_pushboolean(L, s->curl != NULL && !s->closing);
    return 1;
}

/* protect(fn, ...) -> true, results | false, error: pcall, but from C, so
 * that nothing inside can yield while the session is busy. */
static int session_protect(lua_State *L)
{
    int ok;
    luaL_checktype(L, 1, LUA_TFUNCTION);
    ok = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0) == 0;
    lua_pushboolean(L, ok);
    lua_insert(L, 1);
    return lua_gettop(L);
}

void oo_session_private(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "protect", session_protect },
        { "new", session_new },
        { "enter", session_enter },
        { "leave", session_leave },
        { "state", session_state },
        { "is_open", session_is_open },
        { NULL, NULL }
    };
    luaL_setfuncs(L, fns, 0);
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
