/* Requests run concurrently over a multi handle with a bounded number of
 * connections. Each slot is a handle duplicated from the session's, so it
 * carries the same timeouts, TLS and proxy settings; the multi handle keeps the
 * connections between batches. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "compat.h"
#include "transfer.h"

#define OO_BATCH_MAX 64

typedef struct oo_slot {
    CURL *easy;
    oo_session *s;
    oo_buffer body;
    oo_buffer url;
    struct curl_slist *own;  /* the request's own header lines, or NULL */
    int index;               /* request being carried, 0 when idle */
    int overflow;
    char errbuf[CURL_ERROR_SIZE];
} oo_slot;

static size_t slot_on_body(char *p, size_t size, size_t n, void *ud)
{
    oo_slot *slot = ud;
    size_t len = size * n;
    if (slot->body.len + len > slot->s->max_body) {
        slot->overflow = 1;
        return 0;
    }
    return oo_buffer_add(&slot->body, p, len) == 0 ? len : 0;
}

void oo_batch_release(oo_session *s)
{
    int i;
    for (i = 0; i < s->nslots; i++) {
        oo_slot *slot = &s->slots[i];
        if (s->multi && slot->index)
            curl_multi_remove_handle(s->multi, slot->easy);
        curl_easy_cleanup(slot->easy);
        oo_headers_free(slot->own);
        oo_buffer_wipe(&slot->body);
        oo_buffer_free(&slot->body);
        oo_buffer_free(&slot->url);
    }
    free(s->slots);
    s->slots = NULL;
    s->nslots = 0;
    if (s->multi)
        curl_multi_cleanup(s->multi);
    s->multi = NULL;
}

static int ensure_slots(oo_session *s, int n)
{
    oo_slot *slots;
    if (s->multi == NULL && (s->multi = curl_multi_init()) == NULL)
        return -1;
    if (n <= s->nslots)
        return 0;
    slots = realloc(s->slots, (size_t)n * sizeof *slots);
    if (slots == NULL)
        return -1;
    s->slots = slots;
    for (; s->nslots < n; s->nslots++) {
        oo_slot *slot = &s->slots[s->nslots];
        memset(slot, 0, sizeof *slot);
        slot->s = s;
        if ((slot->easy = curl_easy_duphandle(s->curl)) == NULL)
            return -1;
        curl_easy_setopt(slot->easy, CURLOPT_WRITEFUNCTION, slot_on_body);
        curl_easy_setopt(slot->easy, CURLOPT_WRITEDATA, slot);
        curl_easy_setopt(slot->easy, CURLOPT_ERRORBUFFER, slot->errbuf);
        curl_easy_setopt(slot->easy, CURLOPT_PRIVATE, slot);
    }
    return 0;
}

/* Puts request i of the table at index list on the slot and adds it to the
 * multi handle; -1 for a malformed request or when memory runs out. */
static int start(lua_State *L, oo_session *s, oo_slot *slot, int list, int i)
{
    oo_request r;
    memset(&r, 0, sizeof r);
    oo_headers_free(slot->own);
    slot->own = NULL;
    lua_rawgeti(L, list, i);
    lua_rawgeti(L, -1, 1);
    r.method = lua_tostring(L, -1);
    lua_rawgeti(L, -2, 2);
    r.target = lua_tostring(L, -1);
    lua_rawgeti(L, -3, 3);
    r.body = lua_tolstring(L, -1, &r.body_len); /* the list keeps the string alive */
    lua_rawgeti(L, -4, 4);
    if (r.method == NULL || r.target == NULL ||
        (r.headers = oo_request_headers(L, s, r.body != NULL, lua_gettop(L), &slot->own)) == NULL)
        return -1;
    curl_easy_setopt(slot->easy, CURLOPT_HTTPHEADER, r.headers);
    lua_pop(L, 5);
    oo_set_method(slot->easy, &r);
    if (oo_set_url(slot->easy, &slot->url, s->base, r.target) != 0)
        return -1;
    oo_buffer_reset(&slot->body);
    slot->overflow = 0;
    slot->errbuf[0] = '\0';
    slot->index = i;
    curl_multi_add_handle(s->multi, slot->easy);
    return 0;
}

static void slot_idle(oo_session *s, oo_slot *slot)
{
    curl_multi_remove_handle(s->multi, slot->easy);
    oo_headers_free(slot->own);
    slot->own = NULL;
    oo_buffer_reset(&slot->body);
    slot->index = 0;
}

/* Stores a finished transfer's results, as a list with n, in results[index]. */
static void finish(lua_State *L, oo_session *s, oo_slot *slot, CURLcode rc, int results)
{
    int n, k, t;
    lua_newtable(L);
    t = lua_gettop(L);
    n = oo_push_result(L, slot->easy, rc, &slot->body, slot->errbuf, slot->overflow, s->max_body);
    for (k = n; k >= 1; k--)
        lua_rawseti(L, t, k);
    lua_pushinteger(L, n);
    lua_setfield(L, t, "n");
    lua_rawseti(L, results, slot->index);
    slot_idle(s, slot);
}

static void wait_for_activity(CURLM *multi)
{
#if LIBCURL_VERSION_NUM >= 0x074200
    curl_multi_poll(multi, NULL, 0, 1000, NULL);
#else
    curl_multi_wait(multi, NULL, 0, 1000, NULL);
#endif
}

/* Stores every finished transfer; returns how many finished. */
static int collect(lua_State *L, oo_session *s, int results, int *active)
{
    CURLMsg *m;
    int queued, done = 0;
    while ((m = curl_multi_info_read(s->multi, &queued)) != NULL) {
        char *slot = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &slot);
        finish(L, s, (oo_slot *)(void *)slot, m->data.result, results);
        (*active)--;
        done++;
    }
    return done;
}

/* Leaves every slot idle, so the session stays usable, then raises. */
static int abort_batch(lua_State *L, oo_session *s, int i)
{
    int k;
    for (k = 0; k < s->nslots; k++)
        if (s->slots[k].index)
            slot_idle(s, &s->slots[k]);
    lua_settop(L, 4);
    return luaL_error(L, "batch request %d needs a method and a target (or memory ran out)", i);
}

int oo_batch(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    int concurrency = (int)luaL_optinteger(L, 3, 8);
    int n, next = 1, active = 0, i;
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, concurrency >= 1 && concurrency <= OO_BATCH_MAX, 3, "concurrency must be 1 to 64");
    if (s->curl == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "session is closed");
        return 2;
    }
    n = (int)lua_rawlen(L, 2);
    lua_settop(L, 3);
    lua_createtable(L, n, 0);
    if (ensure_slots(s, concurrency) != 0)
        return luaL_error(L, "cannot create libcurl handles");
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)concurrency);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)concurrency);
    while (next <= n || active > 0) {
        int still = 0;
        for (i = 0; i < concurrency && next <= n; i++) {
            if (s->slots[i].index == 0) {
                if (start(L, s, &s->slots[i], 2, next) != 0)
                    return abort_batch(L, s, next);
                next++;
                active++;
            }
        }
        curl_multi_perform(s->multi, &still);
        /* A finished transfer frees a slot: start the next request before waiting. */
        if (collect(L, s, 4, &active) == 0 && active > 0)
            wait_for_activity(s->multi);
    }
    return 1;
}
