/* Heap copies of strings that may be secret: wiped before they are freed. */
#ifndef ONLYOFFICE_SECRET_H
#define ONLYOFFICE_SECRET_H

#include <stddef.h>

/* A NUL-terminated copy of s[0..n), or NULL when memory runs out. */
char *oo_secret_dup(const char *s, size_t n);
/* Replaces *slot with a copy of s (NULL clears it); -1 when memory runs out. */
int oo_secret_set(char **slot, const char *s, size_t n);
/* Wipes and frees *slot, then sets it to NULL. */
void oo_secret_free(char **slot);

#endif
