#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "buffer.h"

#define OO_PRIVATE_MAX (1024 * 1024)

static int fail(lua_State *L, const char *fmt, const char *path, int err)
{
    char text[256];
    text[0] = '\0';
    if (err && strerror_r(err, text, sizeof text) != 0)
        snprintf(text, sizeof text, "error %d", err);
    lua_pushnil(L);
    lua_pushfstring(L, fmt, path, text);
    return 2;
}

/* file_size(path) -> bytes | nil, message: only a regular file is an upload
 * source (a directory reads as endless, a FIFO blocks). */
static int file_size(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(L, "cannot open %s: %s", path, errno);
    if (!S_ISREG(st.st_mode))
        return fail(L, "%s is not a regular file%s", path, 0);
    lua_pushinteger(L, (lua_Integer)st.st_size);
    return 1;
}

/* read_private(path) -> content | false (no such file) | nil, message. A file
 * of secrets must be a regular file of this process's user that nobody else
 * can read or write. The checks are made on the open file itself, so that what
 * is read is what was checked: no swap between the two, no FIFO waited on. A
 * link is followed (mounted secrets are links), since its target is checked. */
static int read_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    char *buf;
    size_t len = 0;
    ssize_t n = 1;
    int err = 0, fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (fd < 0)
        return fail(L, "cannot read %s: %s", path, errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        close(fd);
        return fail(L, "%s must be a regular file of the reading user with mode 0600 or 0400%s", path, 0);
    }
    /* Read whole before anything can raise, so the descriptor is never left open. */
    if ((buf = (char *)malloc(OO_PRIVATE_MAX + 1)) == NULL) {
        close(fd);
        return luaL_error(L, "out of memory");
    }
    while (n != 0 && err == 0 && len <= OO_PRIVATE_MAX) {
        n = read(fd, buf + len, OO_PRIVATE_MAX + 1 - len);
        if (n > 0)
            len += (size_t)n;
        else if (n < 0 && errno != EINTR)
            err = errno;
    }
    close(fd);
    if (err == 0 && len <= OO_PRIVATE_MAX)
        lua_pushlstring(L, buf, len);
    oo_wipe(buf, len);
    free(buf);
    if (err != 0)
        return fail(L, "cannot read %s: %s", path, err);
    if (len > OO_PRIVATE_MAX)
        return fail(L, "%s is larger than 1 MiB%s", path, 0);
    return 1;
}

/* write_private(path, content) -> true | nil, message: replaces path
 * atomically with a new file of mode 0600 (mkstemp's) holding content, so a
 * reader never sees half a file and nobody else can read it at any moment. */
static int write_private(lua_State *L)
{
    size_t plen, len;
    const char *path = luaL_checklstring(L, 1, &plen);
    const char *content = luaL_checklstring(L, 2, &len);
    char *tmp = (char *)lua_newuserdata(L, plen + 8);
    int fd, err = 0;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);
    fd = mkstemp(tmp);
    if (fd < 0)
        return fail(L, "cannot write %s: %s", path, errno);
    while (len > 0 && err == 0) {
        ssize_t n = write(fd, content, len);
        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n > 0) {
            content += n;
            len -= (size_t)n;
        }
    }
    if (err == 0 && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        return fail(L, "cannot write %s: %s", path, err);
    }
    lua_pushboolean(L, 1);
    return 1;
}

void oo_files_register(lua_State *L)
{
    lua_pushcfunction(L, file_size);
    lua_setfield(L, -2, "file_size");
    lua_pushcfunction(L, write_private);
    lua_setfield(L, -2, "write_private");
    lua_pushcfunction(L, read_private);
    lua_setfield(L, -2, "read_private");
}
