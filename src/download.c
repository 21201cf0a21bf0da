/* A GET whose 2xx body streams to a file or to a Lua function, never into memory.
 * A file target is written to a temporary file beside it and renamed into place
 * only when the whole body arrived, so a failed download leaves no partial file. */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "buffer.h"
#include "session.h"
#include "stream.h"
#include "transfer.h"

typedef struct sink {
    oo_session *s;
    oo_stream *st;
    FILE *file;         /* a path target: the temporary file */
    int fn;             /* stack index of a function target, 0 for none */
    int checked;        /* the status was looked at */
    int ok;             /* the status is 2xx: the body is the download */
    curl_off_t written;
    int write_errno;
} sink;

static void start_body(sink *k)
{
    long code = 0;
    curl_off_t length = -1;
    curl_easy_getinfo(k->s->curl, CURLINFO_RESPONSE_CODE, &code);
    k->ok = code >= 200 && code < 300;
    k->checked = 1;
    curl_easy_getinfo(k->s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (k->ok && k->st->total < 0)
        k->st->total = length;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    sink *k = ud;
    size_t len = size * n;
    if (!k->checked)
        start_body(k);
    if (!k->ok) /* an error page: keep it, bounded, for the failure message */
        return oo_session_on_body(p, size, n, k->s);
    if (k->file) {
        if (fwrite(p, 1, len, k->file) != len) {
            k->write_errno = errno;
            return 0;
        }
    } else {
        lua_pushvalue(k->st->L, k->fn);
        lua_pushlstring(k->st->L, p, len);
        if (oo_stream_call(k->st, 1, 0) != 0)
            return 0;
    }
    k->written += (curl_off_t)len;
    return oo_stream_advance(k->st, (curl_off_t)len) == 0 ? len : 0;
}

/* Creates "<target>.<pid>-<n>.part" without clobbering anything, with the umask's mode. */
static FILE *open_temp(oo_buffer *name, const char *target)
{
    char suffix[64];
    int attempt;
    for (attempt = 0; attempt < 100; attempt++) {
        int fd;
        sprintf(suffix, ".%ld-%d.part", (long)getpid(), attempt);
        name->len = 0;
        if (oo_buffer_addstr(name, target) || oo_buffer_add(name, suffix, strlen(suffix) + 1))
            return NULL;
        fd = open(name->data, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0)
            return fdopen(fd, "wb");
        if (errno != EEXIST)
            return NULL;
    }
    return NULL;
}

/* Closes the temporary file and, when keep, renames it over target; otherwise,
 * or when either step fails, removes it. Returns the errno of a failed keep, or 0. */
static int finish_file(sink *k, const char *tmp, const char *target, int keep)
{
    int err = 0;
    if (fclose(k->file) != 0 || (keep && rename(tmp, target) != 0))
        err = errno;
    k->file = NULL;
    if (!keep || err)
        unlink(tmp);
    return keep ? err : 0;
}

static int push_write_error(lua_State *L, const char *target, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "cannot write %s: %s", target, strerror(err));
    lua_pushinteger(L, (lua_Integer)CURLE_WRITE_ERROR);
    return 3;
}

/* core.download(s, target, sink [, progress]): sink is a path or a function.
 * Returns status, error body, content type, Retry-After, redirect URL, bytes
 * written; or nil, message, curl code; raises what the sink or progress raised. */
int oo_download(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    const char *target = luaL_checkstring(L, 2);
    const char *path = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : NULL;
    oo_buffer tmp = { NULL, 0, 0 };
    oo_stream st;
    oo_request r;
    sink k;
    int n, ok;
    if (!path)
        luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 4);
    memset(&k, 0, sizeof k);
    oo_stream_init(&st, L, lua_isfunction(L, 4) ? 4 : 0, 0, -1);
    k.s = s;
    k.st = &st;
    k.fn = path ? 0 : 3;
    if (s->curl == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "session is closed");
        return 2;
    }
    if (path && (k.file = open_temp(&tmp, path)) == NULL) {
        n = push_write_error(L, path, errno);
        oo_buffer_free(&tmp);
        return n;
    }
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.target = target;
    r.headers = s->h_api;
    r.write = on_write;
    r.write_data = &k;
    r.streaming = 1;
    r.follow = 1;
    n = oo_transfer(L, s, &r);
    if (n > 0 && !k.checked && !lua_isnil(L, -n))
        start_body(&k); /* an empty body never reached on_write */
    ok = n > 0 && !lua_isnil(L, -n) && k.ok && !oo_stream_failed(&st);
    if (k.file) {
        int err = finish_file(&k, tmp.data, path, ok);
        if (err)
            k.write_errno = err;
    }
    if (k.write_errno && n > 0) {
        lua_pop(L, n);
        n = push_write_error(L, path ? path : "the sink", k.write_errno);
    } else if (n > 0 && !lua_isnil(L, -n)) {
        lua_pushinteger(L, (lua_Integer)k.written);
        n++;
    }
    oo_buffer_free(&tmp);
    oo_stream_raise(&st);
    return n < 0 ? luaL_error(L, "out of memory") : n;
}
