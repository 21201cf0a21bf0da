/* Many requests at once on a session, over libcurl's multi interface. */
#ifndef ONLYOFFICE_BATCH_H
#define ONLYOFFICE_BATCH_H

#include <lua.h>

#include "session.h"

/* core.batch(s, requests, concurrency) -> results: requests[i] is
 * { method, target [, body [, header_lines]] }; results[i] is what
 * core.perform returns, as a list. */
int oo_batch(lua_State *L);
/* Frees the multi handle and the slots (part of closing a session). */
void oo_batch_release(oo_session *s);

#endif
