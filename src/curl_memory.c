/* libcurl's allocator, set by the module when it is the first in the process to
 * initialise libcurl: blocks are wiped before they are freed. libcurl copies each
 * request (the Authorization header, and small bodies such as the login's with
 * the password) into buffers of its own and frees them as they are; without this
 * the token and the password would stay readable in freed heap memory. */
#if defined(__linux__)
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#endif
#include "curl_memory.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"

#if defined(__linux__)
#include <dlfcn.h>
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

static const char anchor; /* an address inside this library */

/* Marks this library as never to be unloaded, whoever built it and with what
 * linker flags: libcurl will keep pointers to the functions above, and Lua
 * unloads a C module when its state closes. 0 when that cannot be done. */
static int pin(void)
{
    Dl_info info;
    if (dladdr(&anchor, &info) == 0 || info.dli_fname == NULL)
        return 0;
    return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

static void init(void)
{
    if (pin())
        init_result = curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wiping_free, wiping_realloc, strdup, calloc);
    else
        init_result = curl_global_init(CURL_GLOBAL_DEFAULT); /* no wiping rather than a dangling allocator */
}

/* Once per process: libcurl's global init is not thread-safe before 7.84, and
 * Lua states in several threads may load the module at once. When another
 * library initialised libcurl first, its allocator stays. */
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
