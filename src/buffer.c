#include "buffer.h"

#include <stdlib.h>
#include <string.h>

/* Responses larger than this do not keep their memory between requests. */
#define OO_BUFFER_KEEP (256 * 1024)

/* memset at full speed, then a barrier that tells the compiler the zeros are
 * read, so it cannot drop them as dead stores before a free. */
void oo_wipe(void *p, size_t n)
{
#if defined(__GNUC__) || defined(__clang__)
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
#else
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
#endif
}

static int grow(oo_buffer *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 4096;
    char *p;
    if (need <= b->cap)
        return 0;
    while (cap < need) {
        if (cap > (size_t)-1 / 2)
            return -1;
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int oo_buffer_add(oo_buffer *b, const char *p, size_t n)
{
    if (n > (size_t)-1 - b->len || grow(b, b->len + n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int oo_buffer_addstr(oo_buffer *b, const char *s)
{
    return oo_buffer_add(b, s, strlen(s));
}

int oo_buffer_add_json(oo_buffer *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    if (oo_buffer_add(b, "\"", 1) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        int rc;
        if (c == '"' || c == '\\')
            rc = oo_buffer_add(b, esc, 1) || oo_buffer_add(b, (const char *)&s[i], 1);
        else if (c < 0x20)
            rc = oo_buffer_add(b, esc, sizeof esc);
        else
            rc = oo_buffer_add(b, (const char *)&s[i], 1);
        if (rc != 0)
            return -1;
    }
    return oo_buffer_add(b, "\"", 1);
}

void oo_buffer_reset(oo_buffer *b)
{
    b->len = 0;
    if (b->cap > OO_BUFFER_KEEP) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

void oo_buffer_wipe(oo_buffer *b)
{
    if (b->data)
        oo_wipe(b->data, b->cap);
    b->len = 0;
}

void oo_buffer_free(oo_buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
