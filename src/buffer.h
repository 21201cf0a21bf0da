/* A growable byte buffer that libcurl callbacks can fill outside the Lua stack. */
#ifndef ONLYOFFICE_BUFFER_H
#define ONLYOFFICE_BUFFER_H

#include <stddef.h>

typedef struct oo_buffer {
    char *data;
    size_t len;
    size_t cap;
} oo_buffer;

/* Returns 0 on success, -1 when memory runs out (the buffer is unchanged). */
int oo_buffer_add(oo_buffer *b, const char *p, size_t n);
int oo_buffer_addstr(oo_buffer *b, const char *s);
/* Appends s as a JSON string literal, quotes included. */
int oo_buffer_add_json(oo_buffer *b, const char *s, size_t n);
/* Empties the buffer; keeps a moderate allocation for the next response. */
void oo_buffer_reset(oo_buffer *b);
/* Overwrites the contents (they may hold a password) and empties the buffer. */
void oo_buffer_wipe(oo_buffer *b);
void oo_buffer_free(oo_buffer *b);

/* memset that the compiler may not drop as a dead store. */
void oo_wipe(void *p, size_t n);

#endif
