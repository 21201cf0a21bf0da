/* Small host programs that embed Lua with the module, for spec/seams_spec.lua.
 *
 *   hosts unload ROOT CPATH URL
 *       Twice: a Lua state loads the module, logs in, makes a call and is closed
 *       (Lua unloads core.so); then the host uses libcurl on its own (a GET to
 *       URL). Prints one line per round and "unload ok"; exit 0.
 *
 *   hosts oom ROOT CPATH URL FILE_ID STEPS
 *       Runs a job (login, gets, a batch, a download to a function sink, an
 *       upload) in a fresh Lua state whose allocator fails once N bytes have
 *       been allocated in total, for N from 0 past what the whole job needs, in
 *       STEPS steps. Also the module's require under the same kind of limit.
 *       Every outcome must be a success, a memory error raised as a Lua error,
 *       or a nil, message result; prints a summary, and "unexpected: ..." lines
 *       for anything else. After each run the limit is lifted and a session
 *       the job left open must still work ("stuck: ..." otherwise).
 *
 * ROOT is the checkout (for lua/?.lua), CPATH the package.cpath entry of the
 * build to load (".../build/5.4/?.so"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static const char *root, *cpath, *url;

/* ---- unload ----------------------------------------------------------- */

static const char *UNLOAD_JOB =
    "local onlyoffice, url = require 'onlyoffice', ...\n"
    "local s = assert(onlyoffice.login(url, 'user@example.com', 'correct-horse-7'))\n"
    "local me = assert(s:get('people/@self'))\n"
    "assert(me.email == 'user@example.com')\n"
    "s:close()\n";

static int set_paths(lua_State *L)
{
    char setup[4096];
    snprintf(setup, sizeof setup,
             "package.path = '%s/lua/?.lua;%s/lua/?/init.lua;' .. package.path\n"
             "package.cpath = '%s;' .. package.cpath",
             root, root, cpath);
    return luaL_dostring(L, setup);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int unload(void)
{
    int round;
    for (round = 1; round <= 2; round++) {
        lua_State *L = luaL_newstate();
        CURL *c;
        CURLcode rc;
        long status = 0;
        char target[1024];
        luaL_openlibs(L);
        if (set_paths(L) != 0 || luaL_loadstring(L, UNLOAD_JOB) != 0) {
            fprintf(stderr, "setup failed: %s\n", lua_tostring(L, -1));
            return 1;
        }
        lua_pushstring(L, url);
        if (lua_pcall(L, 1, 0, 0) != 0) {
            printf("round %d: job failed: %s\n", round, lua_tostring(L, -1));
            lua_close(L);
            return 1;
        }
        lua_close(L); /* unloads onlyoffice/core.so */
        /* The host now uses libcurl itself, as any program may. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return 1;
        c = curl_easy_init();
        if (c == NULL)
            return 1;
        snprintf(target, sizeof target, "%s/api/2.0/authentication", url);
        curl_easy_setopt(c, CURLOPT_URL, target);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_global_cleanup();
        printf("round %d: state closed; libcurl alone: %s, HTTP %ld\n", round, curl_easy_strerror(rc), status);
        if (rc != CURLE_OK)
            return 1;
    }
    printf("unload ok\n");
    return 0;
}

/* ---- oom -------------------------------------------------------------- */

typedef struct budget {
    int armed;
    size_t total;  /* bytes allocated (grown) since armed */
    size_t limit;
} budget;

static void *limited(void *ud, void *ptr, size_t osize, size_t nsize)
{
    budget *b = (budget *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (b->armed && nsize > old) {
        if (b->total + (nsize - old) > b->limit)
            return NULL;
        b->total += nsize - old;
    }
    return realloc(ptr, nsize);
}

/* The job: returns "done", or "failure", message for a nil, message result.
 * Connection: close lets the server close first, so the thousands of
 * connections of a sweep wait out TIME_WAIT on the server's port instead of
 * holding ephemeral ports that other emulators on this machine may want. */
static const char *OOM_JOB =
    "local url, file_id, upload_too = ...\n"
    "local onlyoffice = require 'onlyoffice'\n"
    "local s, err = onlyoffice.login(url, 'user@example.com', 'correct-horse-7',\n"
    "  { retries = 0, headers = { Connection = 'close' } })\n"
    "if not s then return 'failure', err end\n"
    "S = s\n"
    "for i = 1, 3 do\n"
    "  local e, gerr = s:get('emu/echo', { i = i })\n"
    "  if e == nil then return 'failure', gerr end\n"
    "  if e.args.i ~= tostring(i) then error('wrong answer ' .. tostring(e.args.i)) end\n"
    "end\n"
    "local list = {}\n"
    "for i = 1, 4 do list[i] = { 'GET', 'emu/echo', query = { b = i } } end\n"
    "local r = s:batch(list, { concurrency = 2 })\n"
    "for i = 1, 4 do\n"
    "  if not r[i].ok then return 'failure', r[i][2] end\n"
    "  if r[i][1].args.b ~= tostring(i) then error('wrong batch answer') end\n"
    "end\n"
    "local got = 0\n"
    "local n, derr = s:download(file_id, function(chunk) if chunk then got = got + #chunk end end)\n"
    "if n == nil then return 'failure', derr end\n"
    "if n ~= got then error('download: ' .. n .. ' bytes counted, ' .. got .. ' seen') end\n"
    "if upload_too then\n"
    "  local e, uerr = s:upload(1001, { data = ('u'):rep(5000) }, { name = 'oom.bin' })\n"
    "  if e == nil then return 'failure', uerr end\n"
    "end\n"
    "s:close()\n"
    "return 'done'\n";

/* After a run: with the limit lifted, a session the job left open works. */
static const char *RECOVER =
    "local s = S\n"
    "S = nil\n"
    "if s and s:token() then\n"
    "  local me, err = s:get('people/@self')\n"
    "  if me == nil then error('recovered session: ' .. tostring(err), 0) end\n"
    "  s:close()\n"
    "end\n"
    "local ok, m = pcall(require, 'onlyoffice')\n"
    "if not ok then error('require after a memory error: ' .. tostring(m), 0) end\n"
    "local t = assert(m.session(..., 'token-after-oom', { retries = 0 }))\n"
    "local a, err, d = t:get('people/@self')\n"
    "if a ~= nil or d.status ~= 401 then error('a new session after a memory error: ' .. tostring(err), 0) end\n"
    "t:close()\n";

typedef struct tally {
    int runs, done, errmem, failed, unexpected, stuck, nostate;
} tally;

static int is_memory_text(const char *m)
{
    return m && (strstr(m, "not enough memory") || strstr(m, "out of memory") ||
                 strstr(m, "Cannot allocate memory") || strstr(m, "Memory allocation error"));
}

/* Opens the libraries and sets the paths under lua_pcall: nothing may panic. */
static int prepare(lua_State *L)
{
    luaL_openlibs(L);
    if (set_paths(L) != 0)
        return lua_error(L);
    if (lua_toboolean(L, 1)) {
        lua_getglobal(L, "require");
        lua_pushliteral(L, "onlyoffice");
        lua_call(L, 1, 0);
    }
    return 0;
}

/* Prints a message once, with the limit that first produced it. */
static void note(const char *what, size_t n, const char *message)
{
    static char seen[64][160];
    static int nseen;
    int i;
    for (i = 0; i < nseen; i++)
        if (strncmp(seen[i], message, sizeof seen[i] - 1) == 0)
            return;
    if (nseen < 64) {
        snprintf(seen[nseen], sizeof seen[nseen], "%s", message);
        nseen++;
    }
    printf("%s (N=%lu): %s\n", what, (unsigned long)n, message);
}

/* One run with limit n (SIZE_MAX: none); returns the bytes the job allocated. */
static size_t oom_run(tally *t, size_t n, int with_require, const char *file_id, int upload_too)
{
    budget b;
    lua_State *L;
    int rc;
    size_t used;
    memset(&b, 0, sizeof b);
    b.limit = n;
    L = lua_newstate(limited, &b);
    t->runs++;
    if (L == NULL) {
        t->nostate++;
        return 0;
    }
    lua_pushcfunction(L, prepare);
    lua_pushboolean(L, !with_require);
    if (lua_pcall(L, 1, 0, 0) != 0 || luaL_loadstring(L, OOM_JOB) != 0) {
        printf("unexpected: setup failed: %s\n", lua_tostring(L, -1));
        t->unexpected++;
        lua_close(L);
        return 0;
    }
    lua_pushstring(L, url);
    lua_pushstring(L, file_id);
    lua_pushboolean(L, upload_too);
    b.armed = 1;
    rc = lua_pcall(L, 3, 2, 0);
    b.armed = 0;
    used = b.total;
    if (rc == LUA_ERRMEM || (rc != 0 && is_memory_text(lua_tostring(L, -1)))) {
        t->errmem++;
    } else if (rc != 0) {
        const char *m = lua_tostring(L, -1);
        t->unexpected++;
        note("unexpected: error", n, m ? m : "(not a string)");
    } else if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "done") == 0) {
        t->done++;
    } else if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "failure") == 0 &&
               lua_type(L, -1) == LUA_TSTRING) {
        t->failed++;
        note("failure", n, lua_tostring(L, -1));
    } else {
        t->unexpected++;
        note("unexpected: result", n, "not done and not nil, message");
    }
    lua_settop(L, 0);
    /* The limit is lifted: a session that is still open must still work. */
    if (luaL_loadstring(L, RECOVER) != 0 || (lua_pushstring(L, url), lua_pcall(L, 1, 0, 0)) != 0) {
        t->stuck++;
        note("stuck", n, lua_tostring(L, -1));
    }
    lua_close(L);
    return used;
}

/* A state that stays open to the end: the C modules it loaded (cjson) stay
 * mapped, so LeakSanitizer can name their frames. */
static lua_State *keeper;

static int oom(const char *file_id, int steps)
{
    tally t;
    size_t need, step, n;
    int phase;
    keeper = luaL_newstate();
    luaL_openlibs(keeper);
    if (set_paths(keeper) != 0 || luaL_dostring(keeper, "require 'onlyoffice'") != 0) {
        printf("unexpected: setup failed: %s\n", lua_tostring(keeper, -1));
        return 1;
    }
    for (phase = 0; phase < 2; phase++) {
        int with_require = phase == 1;
        memset(&t, 0, sizeof t);
        need = oom_run(&t, SIZE_MAX, with_require, file_id, 1);
        if (t.done != 1) {
            printf("unexpected: the job fails without a limit\n");
            return 1;
        }
        printf("phase %s: the job allocates %lu bytes\n", with_require ? "require+job" : "job",
               (unsigned long)need);
        memset(&t, 0, sizeof t);
        step = need / (size_t)steps + 1;
        /* Every small N near the start (the first allocations of each call), then
         * steps through the whole job, and a little past it. */
        for (n = 0; n < 4096; n += 97)
            oom_run(&t, n, with_require, file_id, 1);
        for (n = 4096; n <= need + need / 10; n += step)
            oom_run(&t, n, with_require, file_id, 1);
        printf("phase %s: runs=%d done=%d errmem=%d failed=%d unexpected=%d stuck=%d nostate=%d\n",
               with_require ? "require+job" : "job", t.runs, t.done, t.errmem, t.failed, t.unexpected,
               t.stuck, t.nostate);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 5)
        return 2;
    root = argv[2];
    cpath = argv[3];
    url = argv[4];
    if (strcmp(argv[1], "unload") == 0)
        return unload();
    if (strcmp(argv[1], "oom") == 0 && argc >= 7)
        return oom(argv[5], atoi(argv[6]));
    return 2;
}
