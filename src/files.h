/* Questions about local files that Lua alone cannot answer without blocking
 * or without a library: is it a regular file, how large, who may read it. */
#ifndef ONLYOFFICE_FILES_H
#define ONLYOFFICE_FILES_H

#include <lua.h>

/* Adds file_size, read_private and write_private to the table on top of the stack. */
void oo_files_register(lua_State *L);
/* resume.c: adds keep_part(path [, durable]) to the table on top of the stack. */
void oo_resume_register(lua_State *L);

#endif
