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
/* Points c at the portal root base plus target, built in u (kept by the caller). */
int oo_set_url(CURL *c, oo_buffer *u, const char *base, const char *target);
/* The header list for a request: the session's, or a copy with the request's own
 * lines (the table at index lines) in *own, for the caller to free. NULL when a
 * line is unsafe or memory runs out. */
struct curl_slist *oo_request_headers(lua_State *L, oo_session *s, int has_body, int lines,
                                      struct curl_slist **own);
/* core.perform(s, method, target [, body [, header_lines [, cookie]]]) */
int oo_perform(lua_State *L);

#endif
