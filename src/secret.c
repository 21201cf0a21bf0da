#include "secret.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"

char *oo_secret_dup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void oo_secret_free(char **slot)
{
    if (*slot != NULL) {
        oo_wipe(*slot, strlen(*slot));
        free(*slot);
        *slot = NULL;
    }
}

int oo_secret_set(char **slot, const char *s, size_t n)
{
    char *p = NULL;
    if (s != NULL && (p = oo_secret_dup(s, n)) == NULL)
        return -1;
    oo_secret_free(slot);
    *slot = p;
    return 0;
}
