/* libcurl's allocator, set by the module when it is the first in the process to
 * initialise libcurl: blocks are wiped before they are freed. libcurl copies each
 * request (the Authorization header, and small bodies such as the login's with
 * the password) into buffers of its own and frees them as they are; without this
 * the token and the password would stay readable in freed heap memory. */
#include "curl_memory.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"

#if defined(__linux__)
#include <malloc.h>
#include <pthread.h>

static void wiping_free(void *p)
{
    if (p != NULL) {
        oo_wipe(p, malloc_usable_size(p));
        free(p);
    }
}

/* Always moves, so the old block can be wiped: glibc's realloc would free it as is. */
static void *wiping_realloc(void *p, size_t n)
{
    size_t old;
    void *q;
    if (p == NULL)
        return malloc(n);
    if (n == 0) {
        wiping_free(p);
        return NULL;
    }
    if ((q = malloc(n)) == NULL)
        return NULL;
    old = malloc_usable_size(p);
    memcpy(q, p, old < n ? old : n);
    wiping_free(p);
    return q;
}

static CURLcode init_result = CURLE_FAILED_INIT;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
    init_result = curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wiping_free, wiping_realloc, strdup, calloc);
}

/* Once per process: libcurl's global init is not thread-safe before 7.84, and
 * Lua states in several threads may load the module at once. When another
 * library initialised libcurl first, its allocator stays. The module is linked
 * with -z nodelete, so the functions libcurl now points to outlive any Lua
 * state that unloads it. */
CURLcode oo_curl_init(void)
{
    pthread_once(&init_once, init);
    return init_result;
}
#else
CURLcode oo_curl_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT); /* no portable way to size a block */
}
#endif
