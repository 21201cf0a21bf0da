/* Preloaded into a Lua process by spec/freed_spec.lua: counts the heap blocks
 * that still hold the text in FREED_NEEDLE when they are freed (or moved by
 * realloc): in all, for the calls from libcurl, nghttp2 or the module, and for
 * those from OpenSSL. Prints "all=N module=M tls=T" at exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*real_free)(void *);
static void *(*real_realloc)(void *, size_t);
static const char *needle;
static size_t needle_len;
static unsigned long all, module, tls;
static __thread int inside; /* dladdr may allocate */

static void check(void *p, void *caller)
{
    Dl_info info;
    if (needle == NULL || p == NULL || inside)
        return;
    inside = 1;
    if (memmem(p, malloc_usable_size(p), needle, needle_len) != NULL) {
        all++;
        if (dladdr(caller, &info) && info.dli_fname != NULL) {
            if (strstr(info.dli_fname, "libcurl") || strstr(info.dli_fname, "libnghttp2") ||
                strstr(info.dli_fname, "onlyoffice/core"))
                module++;
            else if (strstr(info.dli_fname, "libssl") || strstr(info.dli_fname, "libcrypto"))
                tls++;
        }
    }
    inside = 0;
}

void free(void *p)
{
    if (real_free == NULL)
        real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    check(p, __builtin_return_address(0));
    real_free(p);
}

void *realloc(void *p, size_t n)
{
    if (real_realloc == NULL)
        real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    check(p, __builtin_return_address(0));
    return real_realloc(p, n);
}

__attribute__((constructor)) static void start(void)
{
    needle = getenv("FREED_NEEDLE");
    needle_len = needle ? strlen(needle) : 0;
}

__attribute__((destructor)) static void report(void)
{
    if (needle != NULL)
        fprintf(stderr, "all=%lu module=%lu tls=%lu\n", all, module, tls);
}
