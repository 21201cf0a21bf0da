/* A request table: { method=, target= | url=, body=, headers=, auth=, cookie=,
 * login=, timeout=, file=, durable=, sink=, progress=, done=, total=, part=,
 * field=, filename= }. Every option that one request sets is reset for the
 * next, since handles are reused. */
#include "request.h"

#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "compat.h"
#include "secrets.h"

static int is(const char *method, const char *name)
{
    return strcmp(method, name) == 0;
}

static void set_method(CURL *c, const char *m, const char *body, size_t len, curl_mime *mime)
{
    int is_head = is(m, "HEAD");
    if (mime) {
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    } else if (!is_head && (body || is(m, "POST") || is(m, "PUT") || is(m, "PATCH"))) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        /* No copy: the request table keeps the string alive for the whole transfer. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_NOBODY, is_head ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, (is_head || is(m, "GET") || is(m, "POST")) ? NULL : m);
}

static const char *field_string(lua_State *L, int t, const char *name, size_t *len)
{
    const char *v;
    lua_getfield(L, t, name);
    v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1); /* the request table keeps the string alive */
    return v;
}

static int field_flag(lua_State *L, int t, const char *name, int def)
{
    int v;
    lua_getfield(L, t, name);
    v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static double field_number(lua_State *L, int t, const char *name, double def)
{
    double v;
    lua_getfield(L, t, name);
    v = lua_isnumber(L, -1) ? (double)lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

/* Anchors the function field `name` at the slot's anchor a; 1 if there is one. */
static int anchor_function(lua_State *L, oo_slot *slot, int t, const char *name, int a)
{
    lua_getfield(L, t, name);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    lua_replace(L, slot->anchor + a);
    return !lua_isnil(L, slot->anchor + a);
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

/* The session's list plus the request's own lines, for the slot to free. */
static struct curl_slist *own_headers(lua_State *L, oo_slot *slot, const struct curl_slist *base, int lines)
{
    struct curl_slist *l = NULL;
    size_t i, n = lua_rawlen(L, lines);
    for (; base != NULL; base = base->next)
        if ((l = oo_headers_append(l, base->data)) == NULL)
            return NULL;
    for (i = 1; i <= n && l; i++) {
        size_t len;
        const char *line;
        lua_rawgeti(L, lines, (int)i);
        line = lua_tolstring(L, -1, &len);
        if (line == NULL || !oo_header_safe(line, len)) {
            oo_headers_free(l);
            luaL_error(L, "header line %d is not a string without CR, LF or NUL", (int)i);
        }
        l = oo_headers_append(l, line);
        lua_pop(L, 1);
    }
    return slot->own = l;
}

static struct curl_slist *headers_for(lua_State *L, oo_slot *slot, int req, int has_body, int login)
{
    oo_session *s = slot->s;
    struct curl_slist *base;
    int lines;
    if (login)
        return s->h_login;
    if (!field_flag(L, req, "auth", 1))
        return s->h_bare;
    base = has_body ? s->h_api_json : s->h_api;
    lua_getfield(L, req, "headers");
    lines = lua_gettop(L);
    if (lua_istable(L, lines) && lua_rawlen(L, lines) > 0) {
        /* A request that names its own Content-Type gets no JSON default beside it. */
        base = own_headers(L, slot, has_content_type(L, lines) ? s->h_api : base, lines);
        if (base == NULL)
            luaL_error(L, "out of memory");
    }
    lua_pop(L, 1);
    return base;
}

static void set_url(lua_State *L, oo_slot *slot, const char *target, const char *url)
{
    slot->url.len = 0;
    if ((target ? oo_buffer_addstr(&slot->url, slot->s->base) || oo_buffer_add(&slot->url, target, strlen(target) + 1)
                : oo_buffer_add(&slot->url, url, strlen(url) + 1)) != 0)
        luaL_error(L, "out of memory");
    curl_easy_setopt(slot->easy, CURLOPT_URL, slot->url.data);
}

static void set_cookie(lua_State *L, oo_slot *slot)
{
    oo_buffer c = { NULL, 0, 0 };
    const char *token = slot->s->token;
    int failed = token == NULL || oo_buffer_addstr(&c, "asc_auth_key=") ||
                 oo_buffer_add(&c, token, strlen(token) + 1) ||
                 curl_easy_setopt(slot->easy, CURLOPT_COOKIE, c.data) != CURLE_OK;
    oo_buffer_wipe(&c);
    oo_buffer_free(&c);
    if (failed && token)
        luaL_error(L, "out of memory");
}

/* Uploads and downloads have no total limit unless the request names one: they
 * fail when less than a byte a second moves for the stall time instead. */
static void set_limits(lua_State *L, oo_slot *slot, int req)
{
    oo_session *s = slot->s;
    double t = field_number(L, req, "timeout", -1);
    long ms = t > 0 ? (t * 1000 < 1 ? 1 : t * 1000 > 2147483647.0 ? 2147483647L : (long)(t * 1000))
                    : (slot->streaming ? 0 : s->timeout_ms);
    curl_easy_setopt(slot->easy, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(slot->easy, CURLOPT_LOW_SPEED_LIMIT, slot->streaming ? 1L : 0L);
    curl_easy_setopt(slot->easy, CURLOPT_LOW_SPEED_TIME, slot->streaming ? s->stall_s : 0L);
    /* A download counts the bytes it stores: ask for them unencoded, so the
     * progress total (Content-Length) is in the same unit. */
    curl_easy_setopt(slot->easy, CURLOPT_ACCEPT_ENCODING, slot->streaming ? NULL : "");
}

/* A local failure before any transfer. */
static int failed(oo_slot *slot, enum oo_abort why, const char *message, int err)
{
    slot->abort = why;
    slot->why = message;
    slot->err = err;
    return 1;
}

static int setup_body(lua_State *L, oo_slot *slot, int req, const char **body, size_t *len)
{
    const char *problem;
    lua_getfield(L, req, "part");
    if (lua_istable(L, -1)) {
        size_t n;
        const char *field = field_string(L, req, "field", &n);
        const char *filename = field_string(L, req, "filename", &n);
        slot->streaming = 1;
        if ((problem = oo_part_open(L, slot, lua_gettop(L))) != NULL) {
            lua_pop(L, 1);
            return failed(slot, OO_SOURCE, problem, 0);
        }
        if (oo_part_mime(slot, field ? field : "file", filename ? filename : "file") != 0)
            luaL_error(L, "out of memory");
    }
    lua_pop(L, 1);
    *body = field_string(L, req, "body", len);
    return 0;
}

static int setup_target(lua_State *L, oo_slot *slot, int req)
{
    size_t n;
    const char *path = field_string(L, req, "file", &n);
    int err;
    slot->sink.fn = anchor_function(L, slot, req, "sink", OO_A_SINK);
    if (path || slot->sink.fn)
        slot->streaming = 1;
    if (path && (err = oo_sink_open(slot, path, field_flag(L, req, "durable", 0))) != 0)
        return failed(slot, OO_IO, NULL, err);
    return 0;
}

int oo_request_setup(lua_State *L, oo_slot *slot, int req)
{
    size_t n, len = 0;
    const char *method = field_string(L, req, "method", &n);
    const char *target = field_string(L, req, "target", &n);
    const char *url = target ? NULL : field_string(L, req, "url", &n);
    const char *body = NULL;
    int login;
    if (method == NULL || (target == NULL && url == NULL))
        return luaL_error(L, "a request needs a method and a target or url");
    lua_getfield(L, req, "login");
    login = lua_toboolean(L, -1);
    if (login && oo_login_body(L, slot->s, lua_tostring(L, -1), &slot->post) != 0) {
        lua_pop(L, 1);
        return failed(slot, OO_LOGIN, "no password is kept for this session", 0);
    }
    lua_pop(L, 1);
    slot->wipe_body = login;
    slot->progress = anchor_function(L, slot, req, "progress", OO_A_PROGRESS);
    slot->done = (curl_off_t)field_number(L, req, "done", 0);
    slot->total = (curl_off_t)field_number(L, req, "total", -1);
    if (setup_body(L, slot, req, &body, &len) || setup_target(L, slot, req))
        return 1;
    if (login) {
        body = slot->post.data;
        len = slot->post.len;
    }
    set_method(slot->easy, method, body, len, slot->mime);
    curl_easy_setopt(slot->easy, CURLOPT_HTTPHEADER, headers_for(L, slot, req, body != NULL, login));
    set_url(L, slot, target, url);
    if (field_flag(L, req, "cookie", 0))
        set_cookie(L, slot);
    set_limits(L, slot, req);
    return 0;
}

void oo_request_clear(oo_slot *slot)
{
    CURL *c = slot->easy;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(c, CURLOPT_COOKIE, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    oo_headers_free(slot->own);
    slot->own = NULL;
    curl_mime_free(slot->mime);
    slot->mime = NULL;
    oo_part_close(slot);
    oo_sink_close(slot, 0);
    oo_buffer_free(&slot->sink.tmp);
    memset(&slot->sink, 0, sizeof slot->sink);
    oo_buffer_wipe(&slot->post);
    oo_buffer_free(&slot->post);
    if (slot->wipe_body)
        oo_buffer_wipe(&slot->body);
    oo_buffer_reset(&slot->body);
    slot->wipe_body = slot->streaming = slot->progress = slot->checked = slot->ok = 0;
    slot->abort = OO_OK;
    slot->why = NULL;
    slot->err = 0;
}
