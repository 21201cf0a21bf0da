/* Multipart uploads: one file part streamed from a file range, a Lua string or a
 * Lua reader function, so a file is never held in memory whole. */
#include "upload.h"

#include <stdio.h>
#include <sys/types.h>
#include <string.h>

#include <lauxlib.h>

#include "stream.h"
#include "transfer.h"

typedef struct part_source {
    oo_stream *st;
    FILE *file;            /* file range */
    curl_off_t offset;
    const char *data;      /* string, or what the reader returned last */
    size_t len;
    int reader;            /* stack index of the reader function, 0 for none */
    int reader_ref;        /* keeps the reader's last string alive */
    curl_off_t size;       /* bytes this part has */
    curl_off_t pos;        /* bytes handed to libcurl */
    size_t data_pos;       /* bytes of data already consumed */
    const char *error;     /* a source problem found inside a callback */
} part_source;

/* Asks the reader for its next string; returns 0 at its end. */
static size_t reader_next(part_source *p)
{
    lua_State *L = p->st->L;
    luaL_unref(L, LUA_REGISTRYINDEX, p->reader_ref);
    p->reader_ref = LUA_NOREF;
    lua_pushvalue(L, p->reader);
    if (oo_stream_call(p->st, 0, 1) != 0)
        return 0;
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        p->error = "the reader must return strings, then nil at the end";
        return 0;
    }
    p->data = lua_tolstring(L, -1, &p->len);
    p->data_pos = 0;
    p->reader_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return p->len;
}

static size_t fill(part_source *p, char *buf, size_t room)
{
    if (p->file)
        return fread(buf, 1, room, p->file);
    while (p->data_pos == p->len) {
        if (!p->reader || reader_next(p) == 0)
            return 0;
    }
    if (room > p->len - p->data_pos)
        room = p->len - p->data_pos;
    memcpy(buf, p->data + p->data_pos, room);
    p->data_pos += room;
    return room;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    part_source *p = ud;
    size_t room = size * n, got;
    if ((curl_off_t)room > p->size - p->pos)
        room = (size_t)(p->size - p->pos);
    if (room == 0)
        return 0;
    got = fill(p, buf, room);
    if (got == 0) {
        if (!p->error && !oo_stream_failed(p->st))
            p->error = p->file ? "the file ended before its size was sent" : "the reader ended before size bytes";
        return CURL_READFUNC_ABORT;
    }
    p->pos += (curl_off_t)got;
    return oo_stream_advance(p->st, (curl_off_t)got) == 0 ? got : CURL_READFUNC_ABORT;
}

/* libcurl rewinds a body to send it again, e.g. on a reused connection that died. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    part_source *p = ud;
    if (origin != SEEK_SET || p->reader)
        return CURL_SEEKFUNC_CANTSEEK;
    if (p->file && fseeko(p->file, (off_t)(p->offset + offset), SEEK_SET) != 0)
        return CURL_SEEKFUNC_FAIL;
    p->st->done -= p->pos - offset;
    p->pos = offset;
    p->data_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static curl_off_t opt_offset(lua_State *L, int t, const char *name, curl_off_t def)
{
    curl_off_t v;
    lua_getfield(L, t, name);
    v = lua_isnil(L, -1) ? def : (curl_off_t)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Fills p from the source table at index t, keeping its string and reader alive
 * in the stack slots anchor and anchor + 1; returns an error message or NULL. */
static const char *open_source(lua_State *L, int t, int anchor, part_source *p)
{
    const char *path;
    lua_getfield(L, t, "path");
    path = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, t, "data");
    p->data = lua_tolstring(L, -1, &p->len);
    lua_replace(L, anchor);
    lua_getfield(L, t, "reader");
    if (lua_isfunction(L, -1)) {
        lua_replace(L, anchor + 1);
        p->reader = anchor + 1;
    } else {
        lua_pop(L, 1);
    }
    p->offset = opt_offset(L, t, "offset", 0);
    p->size = opt_offset(L, t, "size", p->data ? (curl_off_t)p->len : -1);
    if (path) {
        p->file = fopen(path, "rb");
        if (p->file == NULL)
            return "cannot open the file";
        if (fseeko(p->file, (off_t)p->offset, SEEK_SET) != 0)
            return "cannot seek in the file";
        p->data = NULL;
    }
    if (p->size < 0 || (!p->file && !p->data && !p->reader))
        return "the source needs a path, data, or a reader and a size";
    return NULL;
}

/* core.send_part(s, target, source, field, filename [, progress, done, total])
 * source = { path=, offset=, size= } | { data= } | { reader=, size= }
 * Returns what core.perform returns; raises an error the progress or reader raised. */
int oo_send_part(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    const char *target = luaL_checkstring(L, 2);
    const char *field = luaL_checkstring(L, 4);
    const char *filename = luaL_checkstring(L, 5);
    int progress = lua_isfunction(L, 6) ? 6 : 0;
    oo_stream st;
    part_source p;
    oo_request r;
    curl_mime *mime;
    curl_mimepart *part;
    const char *problem;
    int n;
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 8);
    lua_pushnil(L); /* 9: anchors data */
    lua_pushnil(L); /* 10: the reader */
    memset(&p, 0, sizeof p);
    p.reader_ref = LUA_NOREF;
    oo_stream_init(&st, L, progress, (curl_off_t)luaL_optnumber(L, 7, 0), (curl_off_t)luaL_optnumber(L, 8, -1));
    p.st = &st;
    problem = open_source(L, 3, 9, &p);
    if (problem) {
        if (p.file)
            fclose(p.file);
        lua_pushnil(L);
        lua_pushstring(L, problem);
        return 2;
    }
    if (s->curl == NULL) {
        if (p.file)
            fclose(p.file);
        lua_pushnil(L);
        lua_pushliteral(L, "session is closed");
        return 2;
    }
    mime = curl_mime_init(s->curl);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, field);
    curl_mime_filename(part, filename);
    curl_mime_type(part, "application/octet-stream");
    curl_mime_data_cb(part, p.size, on_read, on_seek, NULL, &p);
    memset(&r, 0, sizeof r);
    r.method = "POST";
    r.target = target;
    r.headers = s->h_api;
    r.mime = mime;
    r.streaming = 1;
    n = oo_transfer(L, s, &r);
    curl_mime_free(mime);
    if (p.file)
        fclose(p.file);
    luaL_unref(L, LUA_REGISTRYINDEX, p.reader_ref);
    oo_stream_raise(&st);
    if (n < 0)
        return luaL_error(L, "out of memory");
    if (p.error)
        return luaL_error(L, "upload source: %s", p.error);
    return n;
}
