/* A download's target: a Lua function (an ltn12 sink), or a file written to a
 * temporary name beside it and renamed into place only once the whole body
 * arrived, so a failed download leaves no partial file and never clobbers one
 * (a resumable download keeps its part instead: resume.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "callback.h"
#include "slot.h"

/* Creates "<target>.<pid>-<n>.part" without following or clobbering anything.
 * A file that replaces another takes the other's mode, so a private document
 * stays private; a new file gets the umask's mode. */
static int open_temp(oo_sink *k)
{
    struct stat st;
    int replacing = stat(k->path, &st) == 0 && S_ISREG(st.st_mode);
    int attempt;
    for (attempt = 0; attempt < 100; attempt++) {
        char suffix[64];
        int fd;
        snprintf(suffix, sizeof suffix, ".%ld-%d.part", (long)getpid(), attempt);
        k->tmp.len = 0;
        if (oo_buffer_addstr(&k->tmp, k->path) || oo_buffer_add(&k->tmp, suffix, strlen(suffix) + 1))
            return ENOMEM;
        fd = open(k->tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, replacing ? 0600 : 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return errno;
        if ((replacing && fchmod(fd, st.st_mode & 07777) != 0) || (k->file = fdopen(fd, "wb")) == NULL) {
            int err = errno;
            close(fd);
            unlink(k->tmp.data);
            return err;
        }
        return 0;
    }
    return EEXIST;
}

int oo_sink_open(oo_slot *slot, const char *path, int durable, int resume)
{
    oo_sink *k = &slot->sink;
    k->path = path;
    k->durable = durable;
    k->resume = resume;
    return resume ? oo_resume_open(k) : open_temp(k);
}

size_t oo_sink_write(oo_slot *slot, const char *p, size_t len)
{
    oo_sink *k = &slot->sink;
    if (k->file) {
        if (fwrite(p, 1, len, k->file) != len) {
            slot->err = errno;
            slot->abort = OO_IO;
            return 0;
        }
    } else {
        oo_cb cb;
        memset(&cb, 0, sizeof cb);
        cb.op = OO_CB_SINK;
        cb.data = p;
        cb.len = len;
        switch (oo_slot_call(slot, OO_A_SINK, &cb)) {
        case OO_CB_STOP:
            lua_replace(slot->send->L, slot->anchor + OO_A_STOP);
            slot->abort = OO_SINK;
            return 0;
        case OO_CB_RAISED:
            slot->abort = OO_RAISED;
            return 0;
        default:
            break;
        }
    }
    k->written += (curl_off_t)len;
    return len;
}

int oo_sink_sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    int fd, rc;
    if (n >= sizeof dir)
        return 0;
    if (slash == path)
        n = 1;
    memcpy(dir, slash ? path : ".", slash ? n : 1);
    dir[slash ? n : 1] = '\0';
    if ((fd = open(dir, O_RDONLY)) < 0)
        return errno;
    rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

int oo_sink_close(oo_slot *slot, int keep)
{
    oo_sink *k = &slot->sink;
    int err = 0;
    if (k->file == NULL)
        return 0;
    if (k->resume)
        return oo_resume_close(k, keep);
    if (keep && (fflush(k->file) != 0 || (k->durable && fsync(fileno(k->file)) != 0)))
        err = errno;
    if (fclose(k->file) != 0 && !err)
        err = errno;
    k->file = NULL;
    if (keep && !err && rename(k->tmp.data, k->path) != 0)
        err = errno;
    if (!keep || err)
        unlink(k->tmp.data);
    else if (k->durable)
        err = oo_sink_sync_dir(k->path);
    return keep ? err : 0;
}
