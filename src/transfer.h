/* One HTTP exchange on a session's handle, with the answer pushed for Lua. */
#ifndef ONLYOFFICE_TRANSFER_H
#define ONLYOFFICE_TRANSFER_H

#include <lua.h>

#include "session.h"

typedef struct oo_request {
    const char *method;            /* upper case, checked by the caller */
    const char *target;            /* path and query below the portal root, starting with '/' */
    const char *body;              /* NULL: no body */
    size_t body_len;
    struct curl_slist *headers;
    int cookie;                    /* also send the token as the asc_auth_key cookie */
    curl_mime *mime;               /* a multipart body instead of body */
    curl_write_callback write;     /* NULL: collect the body in the session */
    void *write_data;
    int streaming;                 /* an upload or download: no total timeout, a stall limit instead */
    int follow;                    /* let libcurl follow redirects (GET without a body only) */
} oo_request;

/* Pushes status, body, content type, Retry-After seconds, redirect URL; or nil, message, curl code.
 * Returns how many values it pushed, or -1 (nothing pushed) when memory runs out. */
int oo_transfer(lua_State *L, oo_session *s, const oo_request *r);
/* Sets method and body options of a (reused) handle for r. */
void oo_set_method(CURL *c, const oo_request *r);
/* Pushes a finished transfer's results as oo_transfer describes. */
int oo_push_result(lua_State *L, CURL *c, CURLcode rc, const oo_buffer *body, const char *errbuf,
                   int overflow, size_t max_body);
/* core.perform(s, method, target [, body [, header_lines [, cookie]]]) */
int oo_perform(lua_State *L);

#endif
