/* The session userdata: the portal address, the credentials, a template handle
 * with the session's options, and the slots that carry transfers. */
#ifndef ONLYOFFICE_SESSION_H
#define ONLYOFFICE_SESSION_H

#include <curl/curl.h>
#include <lua.h>

#include "buffer.h"

#define OO_SESSION_MT "onlyoffice.session"
#define OO_MAX_SLOTS 64

struct oo_slot;

/* What s->bearer says the token is: a login token goes bare, the others as Bearer. */
enum { OO_LOGIN_TOKEN = 0, OO_KEY = 1, OO_OAUTH = 2 };

typedef struct oo_session {
    CURL *curl;                    /* template for the slots' handles; NULL once closed */
    CURLM *multi;                  /* runs every transfer; keeps the connections */
    struct oo_slot *slots[OO_MAX_SLOTS]; /* each allocated alone: libcurl points into them */
    int nslots;
    int busy;                      /* inside a public call (core.enter .. core.leave) */
    int sending;                   /* inside core.send */
    int closing;                   /* close asked for while busy: done at leave */
    char *username;
    char *password;                /* NULL when re-login is off; wiped before free */
    char *token;
    char *previous;                /* the token before a re-login: answers may still echo it */
    char *expires;
    int bearer;                    /* OO_KEY, OO_OAUTH: the token goes as "Bearer <token>" */
    char *refresh;                 /* OAuth: the refresh token, client id and secret, for /oauth2/token */
    char *client_id;
    char *client_secret;
    struct curl_slist *extra;      /* headers from options.headers */
    struct curl_slist *resolve;    /* options.resolve: libcurl reads it at every transfer */
    struct curl_slist *h_api;      /* Accept, Authorization, extra headers */
    struct curl_slist *h_api_json; /* h_api plus Content-Type: application/json */
    struct curl_slist *h_login;    /* like h_api_json without Authorization */
    struct curl_slist *h_bare;     /* Accept only: requests that leave the portal */
    struct curl_slist *h_form;     /* like h_login with a form Content-Type: OAuth refresh */
    size_t max_body;
    long timeout_ms;               /* whole request, for API calls */
    long stall_s;                  /* streaming transfers: abort below 1 byte/s for this long */
    char base[];                   /* portal root URL without a trailing slash; lives in the userdata */
} oo_session;

/* Argument i as a session, open or closed; raises on anything else. */
oo_session *oo_session_check(lua_State *L, int i);
/* Registers the metatable and leaves the method table on the stack. */
void oo_session_register(lua_State *L);
/* Rebuilds the header lists after the token changes; -1 when memory runs out. */
int oo_session_build_headers(oo_session *s);
/* Frees a header list, wiping an Authorization line first. */
void oo_headers_free(struct curl_slist *l);
/* 1 when header line b has the name of header line a (case-insensitive). */
int oo_header_same_name(const char *a, const char *b);
/* 1 when s holds no CR, LF or NUL, so it is safe in a header line. */
int oo_header_safe(const char *s, size_t n);
/* A copy of from appended to to; NULL (to freed) when memory runs out. */
struct curl_slist *oo_headers_append(struct curl_slist *to, const char *line);

/* Private functions for the Lua layer: new, enter, leave, state, closing. */
void oo_session_private(lua_State *L);

#endif
