/* The one transfer primitive: a list of requests run on the session's multi
 * handle, at most `concurrency` at once; a single request is a list of one. */
#ifndef ONLYOFFICE_SEND_H
#define ONLYOFFICE_SEND_H

#include <lua.h>

#include "session.h"

/* Adds the private send(s, requests, concurrency) -> responses. */
void oo_send_private(lua_State *L);
/* Frees the slots and the multi handle (part of closing a session). */
void oo_send_release(oo_session *s);

#endif
