/* Checking the signature of a DocSpace webhook delivery (HMAC-SHA256, OpenSSL). */
#ifndef ONLYOFFICE_WEBHOOK_H
#define ONLYOFFICE_WEBHOOK_H

#include <lua.h>

/* Adds webhook_verify(secret, body, hex) to the table on top of the stack. */
void oo_webhook_register(lua_State *L);

#endif
