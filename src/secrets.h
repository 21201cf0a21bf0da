/* The username, password and token a session keeps in C memory, and the login
 * body built from them, so the password never returns to Lua once handed in. */
#ifndef ONLYOFFICE_SECRETS_H
#define ONLYOFFICE_SECRETS_H

#include <lua.h>

#include "buffer.h"
#include "session.h"

/* The login body for s (with the two-factor code, or NULL) in b; -1 when the
 * session keeps no password. Raises on a malformed code or out of memory. */
int oo_login_body(lua_State *L, const oo_session *s, const char *code, oo_buffer *b);
/* The /oauth2/token refresh form for s in b; -1 when s keeps no refresh token.
 * Raises when memory runs out. */
int oo_refresh_body(lua_State *L, const oo_session *s, oo_buffer *b);
/* Adds the private credential functions to the table on top of the stack. */
void oo_secrets_private(lua_State *L);

#endif
