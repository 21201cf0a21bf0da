/* The session userdata: one libcurl handle, the portal address and the credentials. */
#ifndef ONLYOFFICE_SESSION_H
#define ONLYOFFICE_SESSION_H

#include <curl/curl.h>
#include <lua.h>

#include "buffer.h"

#define OO_SESSION_MT "onlyoffice.session"

typedef struct oo_session {
    CURL *curl;                    /* NULL once closed */
    char *username;
    char *password;                /* NULL when re-login is off; wiped before free */
    char *token;
    char *expires;
    struct curl_slist *extra;      /* headers from options.headers */
    struct curl_slist *h_api;      /* Accept, Authorization, extra headers */
    struct curl_slist *h_api_json; /* h_api plus Content-Type: application/json */
    struct curl_slist *h_login;    /* like h_api_json without Authorization */
    oo_buffer body;                /* response body of the transfer in progress */
    CURLM *multi;                  /* batches: created on first use, keeps their connections */
    struct oo_slot *slots;         /* batches: one handle per concurrent transfer */
    int nslots;
    oo_buffer scratch;             /* URL and login body assembly */
    size_t max_body;
    long timeout_ms;               /* whole request, for API calls */
    long stall_s;                  /* uploads and downloads: abort below 1 byte/s for this long */
    int redirect_https_only;       /* the portal is https: never follow a redirect to http */
    int body_overflow;
    char errbuf[CURL_ERROR_SIZE];
    char base[];                   /* portal root URL without a trailing slash; lives in the userdata */
} oo_session;

/* Argument i as a session, open or closed; raises on anything else. */
oo_session *oo_session_check(lua_State *L, int i);
/* core.new(base, options) -> session */
int oo_session_new(lua_State *L);
/* Registers the metatable and leaves the method table on the stack. */
void oo_session_register(lua_State *L);
/* Rebuilds the header lists after the token or the extra headers change. */
int oo_session_build_headers(oo_session *s);
/* The default write callback: collects the body in s->body up to max_body. */
size_t oo_session_on_body(char *p, size_t size, size_t n, void *ud);
/* Frees a header list, wiping an Authorization line first. */
void oo_headers_free(struct curl_slist *l);
/* 1 when s holds no CR, LF or NUL, so it is safe in a header line. */
int oo_header_safe(const char *s, size_t n);

#endif
