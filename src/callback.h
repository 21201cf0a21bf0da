/* Calling Lua from inside libcurl callbacks. A Lua error or an allocation
 * failure must never unwind through libcurl's frames, so everything that can
 * raise (pushing the chunk, calling the function, reading its results) runs in
 * one protected call of a C function that was pushed before the transfer. */
#ifndef ONLYOFFICE_CALLBACK_H
#define ONLYOFFICE_CALLBACK_H

#include <curl/curl.h>
#include <lua.h>

enum oo_cb_op { OO_CB_SINK, OO_CB_PROGRESS, OO_CB_READER };

enum oo_cb_result {
    OO_CB_OK,      /* done; a reader's string is on top of the stack */
    OO_CB_END,     /* a reader returned nil */
    OO_CB_STOP,    /* a sink or reader returned nil, err: the message is on top */
    OO_CB_RAISED   /* the function raised: the error is kept for after the transfer */
};

typedef struct oo_cb {
    enum oo_cb_op op;
    const char *data;      /* a sink's chunk */
    size_t len;
    curl_off_t done;       /* progress */
    curl_off_t total;      /* progress; -1 when unknown */
} oo_cb;

/* Pushes the protected function that oo_cb_call runs (may raise: call it
 * before the transfer). */
void oo_cb_push_runner(lua_State *L);
/* Calls the function at index fn as cb says, through the runner at index
 * runner; the first error raised goes to index error (*raised tells: an error
 * may be nil). Pushes one value for OO_CB_OK from a reader and for
 * OO_CB_STOP; nothing otherwise. Never raises, given 4 free stack slots. */
enum oo_cb_result oo_cb_call(lua_State *L, int runner, int fn, int error, int *raised, oo_cb *cb);

#endif
