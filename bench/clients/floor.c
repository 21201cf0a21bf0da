/* The floor: libcurl with one reused handle, nothing else; with "decode", each
 * body also goes through lua-cjson into a Lua table, the least a Lua client
 * must do. Prints the mean microseconds per request of one round.
 *   floor URL TOKEN N decode|raw [CAFILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

typedef struct body {
    char *p;
    size_t len, cap;
} body;

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    body *b = ud;
    size_t len = size * n;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            return 0;
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
    return len;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *url, *token;
    int n, decode, i;
    char auth[4096];
    struct curl_slist *headers = NULL;
    body b = { NULL, 0, 0 };
    lua_State *L = NULL;
    CURL *c;
    double t0;
    if (argc < 5) {
        fprintf(stderr, "usage: floor URL TOKEN N decode|raw [CAFILE]\n");
        return 2;
    }
    url = argv[1];
    token = argv[2];
    n = atoi(argv[3]);
    decode = strcmp(argv[4], "decode") == 0;
    if (decode) {
        L = luaL_newstate();
        luaL_openlibs(L);
        if (luaL_dostring(L, "decode = require('cjson.safe').new().decode") != 0) {
            fprintf(stderr, "%s\n", lua_tostring(L, -1));
            return 1;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    snprintf(auth, sizeof auth, "Authorization: %s", token);
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (argc > 5)
        curl_easy_setopt(c, CURLOPT_CAINFO, argv[5]);
    t0 = now();
    for (i = 0; i < n; i++) {
        long status = 0;
        b.len = 0;
        if (curl_easy_perform(c) != CURLE_OK)
            return 1;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            return 1;
        if (decode) {
            lua_getglobal(L, "decode");
            lua_pushlstring(L, b.p, b.len);
            lua_call(L, 1, 1);
            if (!lua_istable(L, -1))
                return 1;
            lua_pop(L, 1);
        }
    }
    printf("%.1f\n", (now() - t0) / n * 1e6);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    if (L)
        lua_close(L);
    free(b.p);
    return 0;
}
