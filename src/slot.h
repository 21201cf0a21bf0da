/* A slot carries one transfer at a time on its own easy handle: the request's
 * body source or download target, the answer, and the Lua values its callbacks
 * use, kept in stack anchors of the running core.send. */
#ifndef ONLYOFFICE_SLOT_H
#define ONLYOFFICE_SLOT_H

#include <stdio.h>

#include <curl/curl.h>
#include <lua.h>

#include "buffer.h"
#include "session.h"

/* Stack anchors per slot, counted from oo_slot.anchor. */
enum { OO_A_SINK, OO_A_PROGRESS, OO_A_READER, OO_A_CHUNK, OO_A_STOP, OO_ANCHORS };

/* Why a transfer was stopped from our side. */
enum oo_abort { OO_OK, OO_CLOSED, OO_IO, OO_SINK, OO_SOURCE, OO_RAISED, OO_TOO_LARGE, OO_LOGIN, OO_RANGE };

/* The core.send in progress: where its callbacks find their Lua values. */
typedef struct oo_send {
    lua_State *L;
    int runner;                 /* stack index of the protected-call runner */
    int error;                  /* stack index of the first error a callback raised */
    int raised;                 /* a callback raised (its error may be nil) */
} oo_send;

typedef struct oo_part {        /* an upload's file part */
    FILE *file;                 /* a file range */
    curl_off_t offset;
    curl_off_t file_size;       /* the whole file's size when the upload began; -1: not checked */
    const char *data;           /* a string, or the reader's last string */
    size_t len;
    size_t data_pos;            /* bytes of data handed on */
    int reader;                 /* a reader function is anchored */
    curl_off_t size;            /* bytes this part has */
    curl_off_t pos;             /* bytes handed to libcurl */
} oo_part;

typedef struct oo_sink {        /* a download's target, for 2xx answers only */
    FILE *file;                 /* a path target: the temporary file */
    oo_buffer tmp;              /* its name */
    const char *path;           /* the target, anchored by the request table */
    int durable;                /* fsync before the rename */
    int resume;                 /* the target is "<path>.part", appended to and kept after a failure */
    curl_off_t offset;          /* resume: the bytes the part held when the answer began */
    curl_off_t expect;          /* resume: the whole file's size the answer announced; -1: unknown */
    int fn;                     /* a sink function is anchored */
    curl_off_t written;
} oo_sink;

typedef struct oo_slot {
    CURL *easy;
    oo_session *s;
    oo_send *send;              /* while carrying a request */
    int index;                  /* that request's number, 0 when idle */
    int anchor;                 /* first stack anchor */
    int attached;               /* added to the multi handle */
    int checked, ok;            /* status looked at; it is 2xx */
    int streaming;              /* an upload or a download */
    int cookie;                 /* the request sent the token as a cookie */
    int limits_set;             /* the handle's limits, as last set */
    int limit_streaming;
    long limit_ms;
    int progress;               /* a progress function is anchored */
    curl_off_t done, total;     /* for progress */
    enum oo_abort abort;
    const char *why;            /* a local abort's message; NULL: the one at OO_A_STOP */
    int err;                    /* errno of a local failure */
    oo_buffer body;             /* the answer, or a download's error page */
    oo_buffer url;
    oo_buffer post;             /* a body built in C (the login's): wiped after */
    int wipe_body;              /* the answer may hold a token */
    struct curl_slist *own;     /* the request's own header list */
    curl_mime *mime;
    oo_part part;
    oo_sink sink;
    char errbuf[CURL_ERROR_SIZE];
} oo_slot;

/* Calls the slot's Lua function at anchor a (progress, sink or reader); never raises. */
int oo_slot_call(oo_slot *slot, int a, void *cb);
/* Adds n bytes to done and tells the progress function; -1 to abort. */
int oo_slot_advance(oo_slot *slot, curl_off_t n);

/* part.c: opens the source table at index t; an error message or NULL. */
const char *oo_part_open(lua_State *L, oo_slot *slot, int t);
/* Adds the file part to the slot's mime; -1 when memory runs out. */
int oo_part_mime(oo_slot *slot, const char *field, const char *filename);
void oo_part_close(oo_slot *slot);

/* sink.c: prepares a path target (a temporary file beside it, or the part to
 * resume); 0 or an errno. */
int oo_sink_open(oo_slot *slot, const char *path, int durable, int resume);
/* Takes a 2xx body chunk; len, or 0 to abort. */
size_t oo_sink_write(oo_slot *slot, const char *p, size_t len);
/* Keeps (renames) the file when keep, removes it otherwise; 0 or an errno. */
int oo_sink_close(oo_slot *slot, int keep);
/* fsyncs the directory that holds path; 0 or an errno. */
int oo_sink_sync_dir(const char *path);

/* resume.c: what oo_resume_close returns when the part's size is not the one announced. */
#define OO_RESUME_SIZE (-1)
int oo_resume_open(oo_sink *k);
/* At the first look at a 2xx answer (code): continue the part or start it again. */
void oo_resume_begin(oo_slot *slot, long code);
int oo_resume_close(oo_sink *k, int keep);

#endif
