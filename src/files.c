#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

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

/* private_file(path) -> true | nil, message: a file of secrets must be a
 * regular file of this process's user that nobody else can read or write. */
static int private_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(L, "cannot read %s: %s", path, errno);
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        return fail(L, "%s must be a regular file of the reading user with mode 0600 or 0400%s", path, 0);
    lua_pushboolean(L, 1);
    return 1;
}

void oo_files_register(lua_State *L)
{
    lua_pushcfunction(L, file_size);
    lua_setfield(L, -2, "file_size");
    lua_pushcfunction(L, private_file);
    lua_setfield(L, -2, "private_file");
}
