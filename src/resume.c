/* A resumable download's target: "<path>.part", kept after a failure so the
 * next attempt can ask for the rest (Range), with the validator (a strong ETag
 * or Last-Modified) of the answer that began it in "<path>.part.meta", for
 * If-Range. Only this process's user may own the part; it is created 0600,
 * and locked while a download writes it (two runs of one script at once would
 * otherwise write into the same part, and one would rename it under the other). */
#define _DEFAULT_SOURCE /* flock: fcntl's locks are per process, and a second session in it would pass */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "files.h"
#include "slot.h"

static int name_with(oo_buffer *b, const char *path, const char *suffix)
{
    b->len = 0;
    return oo_buffer_addstr(b, path) || oo_buffer_add(b, suffix, strlen(suffix) + 1) ? ENOMEM : 0;
}

/* Opens (or creates) the part for appending, without following links, blocking
 * on a FIFO or writing into someone else's file. */
int oo_resume_open(oo_sink *k)
{
    struct stat st;
    int fd, err = name_with(&k->tmp, k->path, ".part");
    if (err)
        return err;
    fd = open(k->tmp.data, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0)
        return errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return EPERM;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno == EWOULDBLOCK ? EBUSY : errno;
        close(fd);
        return err;
    }
    /* Still the part? A download that held the lock may have renamed it into
     * place between our open and our lock: that file is not ours to append to. */
    {
        struct stat now;
        if (lstat(k->tmp.data, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
            close(fd);
            return EBUSY;
        }
    }
    if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) != 0 || ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) ||
        (k->file = fdopen(fd, "ab")) == NULL) {
        err = errno;
        close(fd);
        return err;
    }
    k->offset = (curl_off_t)st.st_size;
    k->expect = -1;
    return 0;
}

/* Writes the validator of a fresh answer beside the part, or removes a stale one. */
static void save_validator(oo_slot *slot)
{
    oo_sink *k = &slot->sink;
    oo_buffer meta = { NULL, 0, 0 };
    const char *value = NULL;
#if LIBCURL_VERSION_NUM >= 0x075400
    struct curl_header *h;
    if (curl_easy_header(slot->easy, "ETag", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h->value[0] == '"')
        value = h->value; /* a weak one (W/"...") may not stand in If-Range */
    else if (curl_easy_header(slot->easy, "Last-Modified", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
        value = h->value;
#endif
    if (name_with(&meta, k->path, ".part.meta") == 0) {
        struct stat st;
        int fd = value ? open(meta.data, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0600) : -1;
        /* Only a file of ours: not a FIFO, not another user's. */
        if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
                        ftruncate(fd, 0) != 0)) {
            close(fd);
            fd = -1;
        }
        if (fd >= 0) {
            size_t n = strlen(value);
            if (write(fd, value, n) != (ssize_t)n) {
                close(fd);
                fd = -1;
            } else
                close(fd);
        }
        if (fd < 0)
            unlink(meta.data);
    }
    oo_buffer_free(&meta);
}

/* The start and total of "bytes START-END/TOTAL" (TOTAL -1 when "*"); 0 on success. */
static int content_range(oo_slot *slot, curl_off_t *start, curl_off_t *total)
{
#if LIBCURL_VERSION_NUM >= 0x075400
    struct curl_header *h;
    char *end;
    const char *p;
    if (curl_easy_header(slot->easy, "Content-Range", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return -1;
    p = h->value;
    if (strncmp(p, "bytes ", 6) != 0)
        return -1;
    *start = (curl_off_t)strtoll(p + 6, &end, 10);
    if (end == p + 6 || *start < 0 || *end != '-' || (p = strchr(end, '/')) == NULL)
        return -1;
    *total = p[1] == '*' ? -1 : (curl_off_t)strtoll(p + 1, &end, 10);
    return 0;
#else
    (void)slot;
    *start = -1;
    *total = -1;
    return 0;
#endif
}

/* At the first look at a 2xx answer: a 206 continues the part where it ends, a
 * 200 starts it again from zero. Sets slot->abort when neither can be. */
void oo_resume_begin(oo_slot *slot, long code)
{
    oo_sink *k = &slot->sink;
    curl_off_t length = -1;
    curl_easy_getinfo(slot->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (code == 206) {
        curl_off_t start;
        if (content_range(slot, &start, &k->expect) != 0 || (start >= 0 && start != k->offset)) {
            slot->abort = OO_RANGE;
            slot->why = "the portal answered a different range than the one asked for";
            return;
        }
        if (k->expect < 0 && length >= 0)
            k->expect = k->offset + length;
        slot->done = k->offset;
        return;
    }
    if (fflush(k->file) != 0 || ftruncate(fileno(k->file), 0) != 0) {
        slot->abort = OO_IO;
        slot->err = errno;
        return;
    }
    k->offset = 0;
    k->expect = length;
    slot->done = 0;
    save_validator(slot);
}

static void remove_meta(const char *path)
{
    oo_buffer meta = { NULL, 0, 0 };
    if (name_with(&meta, path, ".part.meta") == 0)
        unlink(meta.data);
    oo_buffer_free(&meta);
}

/* Renames part over path, giving it the mode of the file it replaces. */
static int keep_part(const char *part, const char *path, int fd)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && fchmod(fd, st.st_mode & 07777) != 0)
        return errno;
    return rename(part, path) == 0 ? 0 : errno;
}

/* Closes the part: after the whole body (keep), checks its size and renames it
 * into place; after a failure keeps what arrived for the next attempt. 0, an
 * errno, or OO_RESUME_SIZE. */
int oo_resume_close(oo_sink *k, int keep)
{
    struct stat st;
    int fd = fileno(k->file), err = 0;
    if (fflush(k->file) != 0 || fstat(fd, &st) != 0)
        err = errno;
    else if (keep && k->expect >= 0 && (curl_off_t)st.st_size != k->expect)
        err = OO_RESUME_SIZE;
    else if (keep && k->durable && fsync(fd) != 0)
        err = errno;
    else if (keep)
        err = keep_part(k->tmp.data, k->path, fd);
    if (fclose(k->file) != 0 && !err)
        err = errno;
    k->file = NULL;
    if (err == OO_RESUME_SIZE || (!keep && !err && st.st_size == 0)) {
        unlink(k->tmp.data); /* nothing worth resuming, or a part that cannot be trusted */
        remove_meta(k->path);
    } else if (keep && !err) {
        remove_meta(k->path);
        if (k->durable)
            err = oo_sink_sync_dir(k->path);
    }
    return keep ? err : 0;
}

/* keep_part(path [, durable]) -> true | nil, message: a complete "<path>.part"
 * (the portal said 416 to the rest) renamed over path, its meta removed. */
static int l_keep_part(lua_State *L)
{
    oo_sink k;
    struct stat st;
    int fd, err;
    memset(&k, 0, sizeof k);
    k.path = luaL_checkstring(L, 1);
    k.durable = lua_toboolean(L, 2);
    if (name_with(&k.tmp, k.path, ".part") != 0)
        return luaL_error(L, "out of memory");
    fd = open(k.tmp.data, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    err = fd < 0 ? errno : (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) ? EPERM : 0;
    if (!err && k.durable && fsync(fd) != 0)
        err = errno;
    if (!err)
        err = keep_part(k.tmp.data, k.path, fd);
    if (fd >= 0)
        close(fd);
    if (!err) {
        remove_meta(k.path);
        if (k.durable)
            err = oo_sink_sync_dir(k.path);
    }
    oo_buffer_free(&k.tmp);
    if (err) {
        char text[256];
        if (strerror_r(err, text, sizeof text) != 0)
            snprintf(text, sizeof text, "error %d", err);
        lua_pushnil(L);
        lua_pushstring(L, text);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void oo_resume_register(lua_State *L)
{
    lua_pushcfunction(L, l_keep_part);
    lua_setfield(L, -2, "keep_part");
}
