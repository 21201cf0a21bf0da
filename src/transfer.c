#include "transfer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <lauxlib.h>

#include "compat.h"

static int is(const char *method, const char *name)
{
    return strcmp(method, name) == 0;
}

/* Options stick to a reused handle, so every request sets all of these. */
void oo_set_method(CURL *c, const oo_request *r)
{
    const char *m = r->method;
    int has_body = r->body != NULL;
    int is_head = is(m, "HEAD");
    if (r->mime) {
        curl_easy_setopt(c, CURLOPT_MIMEPOST, r->mime);
    } else if (!is_head && (has_body || is(m, "POST") || is(m, "PUT") || is(m, "PATCH"))) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        /* No copy: the Lua string is anchored on the stack for the whole transfer. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(has_body ? r->body_len : 0));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, has_body ? r->body : "");
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_NOBODY, is_head ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, (is_head || is(m, "GET") || is(m, "POST")) ? NULL : m);
}

/* libcurl before 7.83 sent custom Authorization headers to another port or
 * scheme on a redirect (CVE-2022-27776): follow only with a libcurl that does not. */
static int safe_follow(void)
{
    return curl_version_info(CURLVERSION_NOW)->version_num >= 0x075300;
}

/* Streaming transfers and followed redirects change options that API calls rely on. */
static void set_transfer_mode(oo_session *s, const oo_request *r, int on)
{
    CURL *c = s->curl;
    int follow = on && r->follow && safe_follow();
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    if (follow) {
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, s->redirect_https_only ? "https" : "http,https");
#else
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
                         s->redirect_https_only ? (long)CURLPROTO_HTTPS : (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    }
    if (r->streaming) {
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, on ? 0L : s->timeout_ms);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, on ? 1L : 0L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, on ? s->stall_s : 0L);
    }
    if (r->write) {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on ? r->write : (curl_write_callback)oo_session_on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, on ? r->write_data : (void *)s);
    }
    if (r->mime && !on)
        curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
}

int oo_set_url(CURL *c, oo_buffer *u, const char *base, const char *target)
{
    u->len = 0;
    if (oo_buffer_addstr(u, base) || oo_buffer_add(u, target, strlen(target) + 1))
        return -1;
    return curl_easy_setopt(c, CURLOPT_URL, u->data) == CURLE_OK ? 0 : -1;
}

static int set_cookie(oo_session *s, int on)
{
    oo_buffer c = { NULL, 0, 0 };
    int rc = 0;
    if (!on || s->token == NULL)
        return curl_easy_setopt(s->curl, CURLOPT_COOKIE, NULL) == CURLE_OK ? 0 : -1;
    if (oo_buffer_addstr(&c, "asc_auth_key=") || oo_buffer_add(&c, s->token, strlen(s->token) + 1) ||
        curl_easy_setopt(s->curl, CURLOPT_COOKIE, c.data) != CURLE_OK)
        rc = -1;
    oo_buffer_wipe(&c);
    oo_buffer_free(&c);
    return rc;
}

/* Retry-After as seconds from now: either form the header may take. Only a
 * refusal (429, 503, a redirect) carries it, so a success is not searched. */
static void push_retry_after(lua_State *L, CURL *c, long status)
{
#if LIBCURL_VERSION_NUM >= 0x075400
    struct curl_header *h;
    if (status >= 300 && curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
        char *end;
        long secs = strtol(h->value, &end, 10);
        if (end == h->value || *end != '\0') {
            time_t when = curl_getdate(h->value, NULL);
            if (when < 0) {
                lua_pushnil(L);
                return;
            }
            secs = (long)(when - time(NULL));
        }
        lua_pushinteger(L, secs < 0 ? 0 : secs);
        return;
    }
#else
    (void)c;
    (void)status;
#endif
    lua_pushnil(L);
}

static void push_info_string(lua_State *L, CURL *c, CURLINFO what)
{
    char *v = NULL;
    if (curl_easy_getinfo(c, what, &v) == CURLE_OK && v != NULL)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
}

int oo_push_result(lua_State *L, CURL *c, CURLcode rc, const oo_buffer *body, const char *errbuf,
                   int overflow, size_t max_body)
{
    long status = 0;
    if (rc != CURLE_OK) {
        lua_pushnil(L);
        if (overflow)
            lua_pushfstring(L, "response body larger than max_body (%d bytes)", (int)max_body);
        else
            lua_pushstring(L, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        lua_pushinteger(L, (lua_Integer)rc);
        return 3;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    lua_pushinteger(L, (lua_Integer)status);
    lua_pushlstring(L, body->data ? body->data : "", body->len);
    push_info_string(L, c, CURLINFO_CONTENT_TYPE);
    push_retry_after(L, c, status);
    push_info_string(L, c, CURLINFO_REDIRECT_URL);
    return 5;
}

int oo_transfer(lua_State *L, oo_session *s, const oo_request *r)
{
    CURLcode rc;
    int n;
    if (s->curl == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "session is closed");
        return 2;
    }
    oo_set_method(s->curl, r);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, r->headers);
    if (oo_set_url(s->curl, &s->scratch, s->base, r->target) != 0 || set_cookie(s, r->cookie) != 0)
        return -1;
    set_transfer_mode(s, r, 1);
    s->errbuf[0] = '\0';
    s->body_overflow = 0;
    oo_buffer_reset(&s->body);
    rc = curl_easy_perform(s->curl);
    n = oo_push_result(L, s->curl, rc, &s->body, s->errbuf, s->body_overflow, s->max_body);
    set_transfer_mode(s, r, 0);
    if (r->cookie)
        set_cookie(s, 0);
    oo_buffer_reset(&s->body);
    return n;
}

static int has_content_type(lua_State *L, int lines)
{
    size_t i, n = lua_rawlen(L, lines);
    int found = 0;
    for (i = 1; i <= n && !found; i++) {
        const char *line;
        lua_rawgeti(L, lines, (int)i);
        line = lua_tostring(L, -1);
        found = line != NULL && strncasecmp(line, "content-type:", 13) == 0;
        lua_pop(L, 1);
    }
    return found;
}

/* The session's list plus the request's own lines; NULL when memory runs out. */
static struct curl_slist *copy_with_lines(lua_State *L, const struct curl_slist *base, int lines)
{
    struct curl_slist *l = NULL;
    size_t i, n = lua_rawlen(L, lines);
    for (; base != NULL; base = base->next) {
        struct curl_slist *next = curl_slist_append(l, base->data);
        if (next == NULL) {
            oo_headers_free(l);
            return NULL;
        }
        l = next;
    }
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *line;
        struct curl_slist *next;
        lua_rawgeti(L, lines, (int)i);
        line = lua_tolstring(L, -1, &len);
        next = line && oo_header_safe(line, len) ? curl_slist_append(l, line) : NULL;
        lua_pop(L, 1);
        if (next == NULL) {
            oo_headers_free(l);
            return NULL;
        }
        l = next;
    }
    return l;
}

struct curl_slist *oo_request_headers(lua_State *L, oo_session *s, int has_body, int lines,
                                      struct curl_slist **own)
{
    struct curl_slist *base = has_body ? s->h_api_json : s->h_api;
    *own = NULL;
    if (!lua_istable(L, lines) || lua_rawlen(L, lines) == 0)
        return base;
    /* A request that names its own Content-Type gets no JSON default beside it. */
    *own = copy_with_lines(L, has_content_type(L, lines) ? s->h_api : base, lines);
    return *own;
}

int oo_perform(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    oo_request r;
    struct curl_slist *own = NULL;
    int n;
    memset(&r, 0, sizeof r);
    r.method = luaL_checkstring(L, 2);
    r.target = luaL_checkstring(L, 3);
    r.body = luaL_optlstring(L, 4, NULL, &r.body_len);
    r.cookie = lua_toboolean(L, 6);
    /* A closed session has no header lists; oo_transfer answers for it. */
    if (s->curl != NULL && (r.headers = oo_request_headers(L, s, r.body != NULL, 5, &own)) == NULL)
        return luaL_error(L, "invalid header line or out of memory");
    n = oo_transfer(L, s, &r);
    oo_headers_free(own);
    return n < 0 ? luaL_error(L, "out of memory") : n;
}
