/* The password and token kept inside a session, and the login exchange that uses them. */
#ifndef ONLYOFFICE_CREDENTIALS_H
#define ONLYOFFICE_CREDENTIALS_H

#include <lua.h>

/* Adds the credential functions to the table on top of the stack. */
void oo_credentials_register(lua_State *L);

#endif
