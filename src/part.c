/* An upload's file part, streamed from a file range, a Lua string or a Lua
 * reader (an ltn12 source), so a file is never held in memory whole. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <lauxlib.h>

#include "callback.h"
#include "slot.h"

static curl_off_t field_offset(lua_State *L, int t, const char *name, curl_off_t def)
{
    curl_off_t v = def;
    lua_getfield(L, t, name);
    if (lua_isnumber(L, -1)) {
        lua_Number n = lua_tonumber(L, -1);
        v = n >= 0 && n < 9007199254740992.0 ? (curl_off_t)n : -1;
    }
    lua_pop(L, 1);
    return v;
}

/* The file's size now, or -1 when it is not a regular file. */
static curl_off_t regular_size(FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return (curl_off_t)st.st_size;
}

static const char *open_file(oo_part *p, const char *path)
{
    curl_off_t now;
    if ((p->file = fopen(path, "rb")) == NULL)
        return "cannot open the file";
    if ((now = regular_size(p->file)) < 0)
        return "not a regular file";
    if (p->file_size >= 0 && now != p->file_size)
        return "the file changed size during the upload";
    if (p->offset + p->size > now)
        return "the file is shorter than the part to send";
    if (fseeko(p->file, (off_t)p->offset, SEEK_SET) != 0)
        return "cannot seek in the file";
    return NULL;
}

const char *oo_part_open(lua_State *L, oo_slot *slot, int t)
{
    oo_part *p = &slot->part;
    const char *path;
    memset(p, 0, sizeof *p);
    lua_getfield(L, t, "path");
    path = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the source table keeps the string alive */
    lua_getfield(L, t, "data");
    if (lua_type(L, -1) == LUA_TSTRING)
        p->data = lua_tolstring(L, -1, &p->len);
    lua_replace(L, slot->anchor + OO_A_CHUNK);
    lua_getfield(L, t, "reader");
    p->reader = lua_isfunction(L, -1);
    lua_replace(L, slot->anchor + OO_A_READER);
    p->offset = field_offset(L, t, "offset", 0);
    p->file_size = field_offset(L, t, "file_size", -1);
    p->size = field_offset(L, t, "size", p->data ? (curl_off_t)p->len : -1);
    if (p->size < 0 || p->offset < 0 || (!path && !p->data && !p->reader))
        return "the source needs a path, data, or a reader and a size";
    if (p->data && (curl_off_t)p->len != p->size)
        return "the data's length is not its size";
    if (path) {
        p->data = NULL;
        return open_file(p, path);
    }
    return NULL;
}

void oo_part_close(oo_slot *slot)
{
    if (slot->part.file)
        fclose(slot->part.file);
    memset(&slot->part, 0, sizeof slot->part);
}

static size_t stop(oo_slot *slot, enum oo_abort why, const char *message)
{
    if (slot->abort == OO_OK) {
        slot->abort = why;
        slot->why = message;
    }
    return CURL_READFUNC_ABORT;
}

/* Asks the reader for its next non-empty string (ltn12 sources may return
 * empty ones): 1 when one came, 0 at its end or when it failed. */
static int reader_next(oo_slot *slot)
{
    lua_State *L = slot->send->L;
    oo_part *p = &slot->part;
    oo_cb cb;
    memset(&cb, 0, sizeof cb);
    cb.op = OO_CB_READER;
    for (;;) {
        switch (oo_slot_call(slot, OO_A_READER, &cb)) {
        case OO_CB_OK:
            lua_replace(L, slot->anchor + OO_A_CHUNK);
            p->data = lua_tolstring(L, slot->anchor + OO_A_CHUNK, &p->len);
            p->data_pos = 0;
            if (p->len > 0)
                return 1;
            break;
        case OO_CB_STOP:
            lua_replace(L, slot->anchor + OO_A_STOP);
            stop(slot, OO_SOURCE, NULL);
            return 0;
        case OO_CB_RAISED:
            stop(slot, OO_RAISED, NULL);
            return 0;
        case OO_CB_END:
            p->reader = 0; /* never asked again */
            return 0;
        }
    }
}

static size_t fill(oo_slot *slot, char *buf, size_t room)
{
    oo_part *p = &slot->part;
    if (p->file)
        return fread(buf, 1, room, p->file);
    while (p->data_pos == p->len) {
        if (!p->reader || reader_next(slot) == 0)
            return 0;
    }
    if (room > p->len - p->data_pos)
        room = p->len - p->data_pos;
    memcpy(buf, p->data + p->data_pos, room);
    p->data_pos += room;
    return room;
}

/* After the last byte: a reader with bytes to spare or a file whose size
 * changed would otherwise upload a prefix as if it were the whole. The reader
 * is asked once more: it must say it ended. */
static const char *check_end(oo_slot *slot)
{
    oo_part *p = &slot->part;
    if (p->reader && (p->data_pos < p->len || reader_next(slot)))
        return "the reader gave more than size bytes";
    if (slot->abort != OO_OK)
        return NULL;
    if (p->file && p->file_size >= 0 && regular_size(p->file) != p->file_size)
        return "the file changed size during the upload";
    return NULL;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    oo_slot *slot = ud;
    oo_part *p = &slot->part;
    size_t room = size * n, got;
    const char *bad;
    if (slot->s->closing)
        return stop(slot, OO_CLOSED, NULL);
    if ((curl_off_t)room > p->size - p->pos)
        room = (size_t)(p->size - p->pos);
    if (room == 0)
        return 0;
    got = fill(slot, buf, room);
    if (got == 0 && p->file && p->file_size >= 0 && regular_size(p->file) != p->file_size)
        return stop(slot, OO_SOURCE, "the file changed size during the upload");
    if (got == 0)
        return stop(slot, OO_SOURCE, p->file ? "the file ended before its size was sent"
                                              : "the reader ended before size bytes");
    p->pos += (curl_off_t)got;
    if (p->pos == p->size && (bad = check_end(slot)) != NULL)
        return stop(slot, OO_SOURCE, bad);
    if (slot->abort != OO_OK)
        return CURL_READFUNC_ABORT;
    return oo_slot_advance(slot, (curl_off_t)got) == 0 ? got : CURL_READFUNC_ABORT;
}

/* libcurl rewinds a body to send it again, e.g. on a reused connection that died. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    oo_slot *slot = ud;
    oo_part *p = &slot->part;
    if (origin != SEEK_SET || p->reader || offset < 0 || offset > p->size)
        return CURL_SEEKFUNC_CANTSEEK;
    if (p->file && fseeko(p->file, (off_t)(p->offset + offset), SEEK_SET) != 0)
        return CURL_SEEKFUNC_FAIL;
    slot->done -= p->pos - offset;
    p->pos = offset;
    p->data_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

int oo_part_mime(oo_slot *slot, const char *field, const char *filename)
{
    curl_mimepart *part;
    if ((slot->mime = curl_mime_init(slot->easy)) == NULL || (part = curl_mime_addpart(slot->mime)) == NULL)
        return -1;
    if (curl_mime_name(part, field) != CURLE_OK || curl_mime_filename(part, filename) != CURLE_OK ||
        curl_mime_type(part, "application/octet-stream") != CURLE_OK ||
        curl_mime_data_cb(part, slot->part.size, on_read, on_seek, NULL, slot) != CURLE_OK)
        return -1;
    return 0;
}

