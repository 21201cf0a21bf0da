/* Sessions used from several OS threads, each with its own Lua state, and from
 * both sides of a fork. Built and run by spec/threads_spec.lua:
 *   threads ROOT URL threads N     -> each thread logs in and makes N GETs
 *   threads ROOT URL fork N        -> a session before fork; parent and child
 *                                     then each make N GETs on fresh sessions */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static const char *root, *url;
static int n;

static const char *JOB =
    "local onlyoffice, url, n = require 'onlyoffice', ...\n"
    "local s = assert(onlyoffice.login(url, 'user@example.com', 'correct-horse-7'))\n"
    "for i = 1, n do\n"
    "  local me = assert(s:get('people/@self'))\n"
    "  assert(me.email == 'user@example.com')\n"
    "end\n"
    "s:close()\n";

/* A fresh Lua state that finds the module in ROOT; runs JOB; 0 on success. */
static int run_job(void)
{
    char setup[2048];
    int rc;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    snprintf(setup, sizeof setup,
             "package.path = '%s/lua/?.lua;%s/lua/?/init.lua;' .. package.path\n"
             "package.cpath = '%s/build/5.4/?.so;' .. package.cpath",
             root, root, root);
    rc = luaL_dostring(L, setup) || luaL_loadstring(L, JOB);
    if (rc == 0) {
        lua_pushstring(L, url);
        lua_pushinteger(L, n);
        rc = lua_pcall(L, 2, 0, 0);
    }
    if (rc != 0)
        fprintf(stderr, "job failed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc;
}

static void *thread_main(void *arg)
{
    (void)arg;
    return (void *)(long)run_job();
}

int main(int argc, char **argv)
{
    int i, failed = 0;
    if (argc < 5)
        return 2;
    root = argv[1];
    url = argv[2];
    n = atoi(argv[4]);
    if (strcmp(argv[3], "threads") == 0) {
        pthread_t t[8];
        for (i = 0; i < 8; i++)
            pthread_create(&t[i], NULL, thread_main, NULL);
        for (i = 0; i < 8; i++) {
            void *rc;
            pthread_join(t[i], &rc);
            failed += rc != NULL;
        }
    } else {
        int status = 0;
        pid_t child;
        if (run_job() != 0) /* libcurl initialised and used before the fork */
            return 1;
        child = fork();
        if (child == 0)
            _exit(run_job() == 0 ? 0 : 1);
        failed += run_job() != 0;
        waitpid(child, &status, 0);
        failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    printf("%d failed\n", failed);
    return failed != 0;
}
