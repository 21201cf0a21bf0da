/* Calling Lua from inside libcurl callbacks: progress, readers and sinks.
 * A Lua error must not unwind through libcurl, so each call is protected; the
 * first error is kept, the transfer aborted, and the error raised afterwards. */
#ifndef ONLYOFFICE_STREAM_H
#define ONLYOFFICE_STREAM_H

#include <curl/curl.h>
#include <lua.h>

typedef struct oo_stream {
    lua_State *L;
    int progress;      /* stack index of the progress function, 0 for none */
    curl_off_t done;   /* bytes reported so far, including earlier transfers */
    curl_off_t total;  /* the whole size, or -1 when unknown */
    int err_ref;       /* registry reference to the first error, or LUA_NOREF */
} oo_stream;

void oo_stream_init(oo_stream *st, lua_State *L, int progress, curl_off_t done, curl_off_t total);
/* Calls the function below its nargs arguments on the stack; 0 on success with
 * nres results pushed, -1 after an error (kept for oo_stream_raise). */
int oo_stream_call(oo_stream *st, int nargs, int nres);
/* Adds n bytes to done and tells the progress function, if any. */
int oo_stream_advance(oo_stream *st, curl_off_t n);
int oo_stream_failed(const oo_stream *st);
/* Raises the kept error, if any (after libcurl has returned). */
void oo_stream_raise(oo_stream *st);

#endif
