/* Redaction of text that came from the portal: the session's secrets never
 * reach a message, a detail field or a trace line. */
#ifndef ONLYOFFICE_REDACT_H
#define ONLYOFFICE_REDACT_H

#include <lua.h>

/* Adds the private redact(s, text) to the table on top of the stack. */
void oo_redact_private(lua_State *L);

#endif
