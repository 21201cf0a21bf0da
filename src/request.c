/* A request table: { method=, target= | url=, body=, headers=, auth=, cookie=,
 * login=, refresh=, form=, timeout=, file=, durable=, resume=, sink=, progress=, done=, total=, part=,
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

/* Anchors the function field `name` at the slot's anchor a; 1 if there is one. */
/* The session's list plus the request's own lines, for the slot to free. */
/* 1 when one of the request's own lines has the name of header line `line`. */
static int overridden(lua_State *L, int lines, size_t n, const char *line)
{
    size_t i;
    int found = 0;
    for (i = 1; i <= n && !found; i++) {
        const char *own;
        lua_rawgeti(L, lines, (int)i);
        own = lua_tostring(L, -1);
        found = own != NULL && oo_header_same_name(line, own);
        lua_pop(L, 1);
    }
    return found;
}

/* The session's lines, less those the request names itself, then the request's. */
static struct curl_slist *own_headers(lua_State *L, oo_slot *slot, const struct curl_slist *base, int lines)
{
    struct curl_slist *l = NULL;
    size_t i, n = lua_rawlen(L, lines);
    for (; base != NULL; base = base->next)
        if (!overridden(L, lines, n, base->data) && (l = oo_headers_append(l, base->data)) == NULL)
            return NULL;
    for (i = 1; i <= n; i++) {
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
        if (l == NULL)
            return NULL;
    }
    return slot->own = l;
}

/* What a request table holds, read in one pass over it. */
typedef struct fields {
    const char *method, *target, *url, *body, *file, *field, *filename, *code;
    size_t body_len;
    int login, refresh, form, auth, cookie, durable, resume, headers, part;
    double timeout, done, total;
} fields;

static struct curl_slist *headers_for(lua_State *L, oo_slot *slot, int req, int has_body, const fields *f)
{
    oo_session *s = slot->s;
    struct curl_slist *base;
    int lines;
    if (f->refresh || f->form)
        return s->h_form;
    if (f->login)
        return s->h_login;
    /* Without credentials (another origin) a request's own lines still go: a Range. */
    base = !f->auth ? s->h_bare : has_body ? s->h_api_json : s->h_api;
    if (!f->headers)
        return base;
    lua_getfield(L, req, "headers");
    lines = lua_gettop(L);
    if (lua_istable(L, lines) && lua_rawlen(L, lines) > 0) {
        /* A request's own header (Content-Type included) replaces the session's. */
        base = own_headers(L, slot, base, lines);
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
static void set_limits(oo_slot *slot, double t)
{
    oo_session *s = slot->s;
    long ms = t > 0 ? (t * 1000 < 1 ? 1 : t * 1000 > 2147483647.0 ? 2147483647L : (long)(t * 1000))
                    : (slot->streaming ? 0 : s->timeout_ms);
    /* Set only what differs from the handle's last request: each setopt costs. */
    if (!slot->limits_set || ms != slot->limit_ms)
        curl_easy_setopt(slot->easy, CURLOPT_TIMEOUT_MS, ms);
    if (!slot->limits_set || slot->streaming != slot->limit_streaming) {
        curl_easy_setopt(slot->easy, CURLOPT_LOW_SPEED_LIMIT, slot->streaming ? 1L : 0L);
        curl_easy_setopt(slot->easy, CURLOPT_LOW_SPEED_TIME, slot->streaming ? s->stall_s : 0L);
        /* A download counts the bytes it stores: ask for them unencoded, so the
         * progress total (Content-Length) is in the same unit. */
        curl_easy_setopt(slot->easy, CURLOPT_ACCEPT_ENCODING, slot->streaming ? NULL : "");
    }
    slot->limits_set = 1;
    slot->limit_ms = ms;
    slot->limit_streaming = slot->streaming;
}

/* A local failure before any transfer. */
static int failed(oo_slot *slot, enum oo_abort why, const char *message, int err)
{
    slot->abort = why;
    slot->why = message;
    slot->err = err;
    return 1;
}

static int key_is(const char *k, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(k, name, n) == 0;
}

static const char *string_value(lua_State *L, size_t *len)
{
    return lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
}

static double number_value(lua_State *L, double def)
{
    return lua_type(L, -1) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : def;
}

/* Keeps the function value on top at the slot's anchor a; 1 if it is one. */
static int keep_function(lua_State *L, oo_slot *slot, int a)
{
    if (!lua_isfunction(L, -1))
        return 0;
    lua_pushvalue(L, -1);
    lua_replace(L, slot->anchor + a);
    return 1;
}

static void field(lua_State *L, oo_slot *slot, fields *f, const char *k, size_t n)
{
    size_t len;
    if (key_is(k, n, "method"))
        f->method = string_value(L, &len);
    else if (key_is(k, n, "target"))
        f->target = string_value(L, &len);
    else if (key_is(k, n, "url"))
        f->url = string_value(L, &len);
    else if (key_is(k, n, "body"))
        f->body = string_value(L, &f->body_len);
    else if (key_is(k, n, "headers"))
        f->headers = lua_istable(L, -1);
    else if (key_is(k, n, "auth"))
        f->auth = lua_toboolean(L, -1);
    else if (key_is(k, n, "cookie"))
        f->cookie = lua_toboolean(L, -1);
    else if (key_is(k, n, "login")) {
        f->login = lua_toboolean(L, -1);
        f->code = string_value(L, &len);
    } else if (key_is(k, n, "refresh"))
        f->refresh = lua_toboolean(L, -1);
    else if (key_is(k, n, "form"))
        f->form = lua_toboolean(L, -1);
    else if (key_is(k, n, "timeout"))
        f->timeout = number_value(L, -1);
    else if (key_is(k, n, "file"))
        f->file = string_value(L, &len);
    else if (key_is(k, n, "durable"))
        f->durable = lua_toboolean(L, -1);
    else if (key_is(k, n, "resume"))
        f->resume = lua_toboolean(L, -1);
    else if (key_is(k, n, "sink"))
        slot->sink.fn = keep_function(L, slot, OO_A_SINK);
    else if (key_is(k, n, "progress"))
        slot->progress = keep_function(L, slot, OO_A_PROGRESS);
    else if (key_is(k, n, "done"))
        f->done = number_value(L, 0);
    else if (key_is(k, n, "total"))
        f->total = number_value(L, -1);
    else if (key_is(k, n, "part"))
        f->part = lua_istable(L, -1);
    else if (key_is(k, n, "field"))
        f->field = string_value(L, &len);
    else if (key_is(k, n, "filename"))
        f->filename = string_value(L, &len);
}

/* One pass over the table (the policy's own fields are skipped): reading only
 * what is there costs less than asking for every name. */
static void scan(lua_State *L, oo_slot *slot, int req, fields *f)
{
    int a;
    memset(f, 0, sizeof *f);
    f->auth = 1;
    f->timeout = f->total = -1;
    for (a = 0; a < OO_ANCHORS; a++) {
        lua_pushnil(L);
        lua_replace(L, slot->anchor + a);
    }
    lua_pushnil(L);
    while (lua_next(L, req) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t n;
            const char *k = lua_tolstring(L, -2, &n);
            field(L, slot, f, k, n);
        }
        lua_pop(L, 1);
    }
}

static int setup_part(lua_State *L, oo_slot *slot, int req, const fields *f)
{
    const char *problem;
    slot->streaming = 1;
    lua_getfield(L, req, "part");
    problem = oo_part_open(L, slot, lua_gettop(L));
    lua_pop(L, 1);
    if (problem)
        return failed(slot, OO_SOURCE, problem, 0);
    if (oo_part_mime(slot, f->field ? f->field : "file", f->filename ? f->filename : "file") != 0)
        luaL_error(L, "out of memory");
    return 0;
}

int oo_request_setup(lua_State *L, oo_slot *slot, int req)
{
    fields f;
    const char *body;
    size_t len;
    int err;
    scan(L, slot, req, &f);
    if (f.method == NULL || (f.target == NULL && f.url == NULL))
        return luaL_error(L, "a request needs a method and a target or url");
    if (f.login && oo_login_body(L, slot->s, f.code, &slot->post) != 0)
        return failed(slot, OO_LOGIN, "no password is kept for this session", 0);
    if (f.refresh && oo_refresh_body(L, slot->s, &slot->post) != 0)
        return failed(slot, OO_LOGIN, "no refresh token is kept for this session", 0);
    slot->wipe_body = f.login || f.refresh; /* bodies of secrets, answered with tokens */
    slot->done = (curl_off_t)f.done;
    slot->total = (curl_off_t)f.total;
    if (f.part && setup_part(L, slot, req, &f))
        return 1;
    if (f.file || slot->sink.fn)
        slot->streaming = 1;
    if (f.file && (err = oo_sink_open(slot, f.file, f.durable, f.resume)) != 0)
        return failed(slot, OO_IO, NULL, err);
    body = slot->wipe_body ? slot->post.data : f.body;
    len = slot->wipe_body ? slot->post.len : f.body_len;
    set_method(slot->easy, f.method, body, len, slot->mime);
    curl_easy_setopt(slot->easy, CURLOPT_HTTPHEADER,
                     headers_for(L, slot, req, body != NULL, &f));
    set_url(L, slot, f.target, f.url);
    if ((slot->cookie = f.cookie) != 0)
        set_cookie(L, slot);
    set_limits(slot, f.timeout);
    return 0;
}

void oo_request_clear(oo_slot *slot)
{
    CURL *c = slot->easy;
    /* No pointer into freed lists or collected Lua strings stays in the handle. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    if (slot->mime)
        curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
    if (slot->cookie)
        curl_easy_setopt(c, CURLOPT_COOKIE, NULL);
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
    slot->wipe_body = slot->streaming = slot->progress = slot->checked = slot->ok = slot->cookie = 0;
    slot->abort = OO_OK;
    slot->why = NULL;
    slot->err = 0;
}
