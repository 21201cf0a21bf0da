/* Setting up one request (a table the Lua layer built) on a slot's handle. */
#ifndef ONLYOFFICE_REQUEST_H
#define ONLYOFFICE_REQUEST_H

#include <lua.h>

#include "slot.h"

/* Configures the slot for the request table at index req: 0 when it is ready
 * to run, 1 when it failed before any transfer (slot->abort says why). Raises
 * on a malformed request or when memory runs out. */
int oo_request_setup(lua_State *L, oo_slot *slot, int req);
/* Resets what the request set on the handle and frees what it held. */
void oo_request_clear(oo_slot *slot);

#endif
