/* send(s, requests, concurrency) -> responses, in the order of the requests.
 * A response is { status=, body=, ctype=, headers=, retry_after=, location=,
 * bytes= } or, when no answer came, { kind=, message=, code= | errno= }.
 * What a callback raised is raised again once every transfer has stopped and
 * every handle is detached, so the session stays usable. */
#include "send.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "callback.h"
#include "compat.h"
#include "request.h"
#include "slot.h"

int oo_slot_call(oo_slot *slot, int a, void *cb)
{
    oo_send *sd = slot->send;
    return (int)oo_cb_call(sd->L, sd->runner, slot->anchor + a, sd->error, &sd->raised, cb);
}

int oo_slot_advance(oo_slot *slot, curl_off_t n)
{
    oo_cb cb;
    slot->done += n;
    if (!slot->progress || n == 0)
        return 0;
    memset(&cb, 0, sizeof cb);
    cb.op = OO_CB_PROGRESS;
    cb.done = slot->done;
    cb.total = slot->total;
    if (oo_slot_call(slot, OO_A_PROGRESS, &cb) == OO_CB_RAISED) {
        slot->abort = OO_RAISED;
        return -1;
    }
    return 0;
}

static void look_at_status(oo_slot *slot)
{
    long code = 0;
    curl_off_t length = -1;
    curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &code);
    slot->ok = code >= 200 && code < 300;
    slot->checked = 1;
    if (slot->ok && slot->sink.resume && slot->sink.file)
        oo_resume_begin(slot, code); /* sets done: the total below counts from there */
    curl_easy_getinfo(slot->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (slot->ok && slot->total < 0 && length >= 0)
        slot->total = slot->done + length;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    oo_slot *slot = ud;
    size_t len = size * n;
    if (slot->s->closing) {
        slot->abort = OO_CLOSED;
        return 0;
    }
    if (!slot->checked)
        look_at_status(slot);
    if (slot->abort != OO_OK)
        return 0;
    if (slot->ok && (slot->sink.file || slot->sink.fn)) {
        if (oo_sink_write(slot, p, len) != len)
            return 0;
        return oo_slot_advance(slot, (curl_off_t)len) == 0 ? len : 0;
    }
    /* An API answer, or an error page instead of a download: kept, bounded. */
    if (slot->body.len + len > slot->s->max_body) {
        slot->abort = OO_TOO_LARGE;
        return 0;
    }
    if (oo_buffer_add(&slot->body, p, len) != 0) {
        slot->abort = OO_IO;
        slot->err = ENOMEM;
        return 0;
    }
    return len;
}

static oo_slot *slot_new(oo_session *s)
{
    oo_slot *slot = calloc(1, sizeof *slot);
    if (slot == NULL)
        return NULL;
    slot->s = s;
    if ((slot->easy = curl_easy_duphandle(s->curl)) == NULL) {
        free(slot);
        return NULL;
    }
    curl_easy_setopt(slot->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(slot->easy, CURLOPT_WRITEDATA, slot);
    curl_easy_setopt(slot->easy, CURLOPT_ERRORBUFFER, slot->errbuf);
    curl_easy_setopt(slot->easy, CURLOPT_PRIVATE, slot);
    return slot;
}

/* Detaches the slot and drops what its request held; safe on an idle slot. */
static void slot_idle(oo_slot *slot)
{
    if (slot->attached)
        curl_multi_remove_handle(slot->s->multi, slot->easy);
    slot->attached = 0;
    oo_request_clear(slot);
    slot->index = 0;
    slot->send = NULL;
}

void oo_send_release(oo_session *s)
{
    int i;
    for (i = 0; i < s->nslots; i++) {
        oo_slot *slot = s->slots[i];
        slot_idle(slot);
        curl_easy_cleanup(slot->easy);
        oo_buffer_wipe(&slot->body);
        oo_buffer_free(&slot->body);
        oo_buffer_free(&slot->url);
        free(slot);
        s->slots[i] = NULL;
    }
    s->nslots = 0;
    if (s->multi)
        curl_multi_cleanup(s->multi);
    s->multi = NULL;
}

static int ensure_slots(oo_session *s, int n)
{
    if (s->multi == NULL && (s->multi = curl_multi_init()) == NULL)
        return -1;
    for (; s->nslots < n; s->nslots++)
        if ((s->slots[s->nslots] = slot_new(s)) == NULL)
            return -1;
    return 0;
}

/* ---- results ---------------------------------------------------------- */

static void set_string(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static void set_integer(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* Retry-After as seconds from now, in either form the header may take. Only a
 * refusal (429, 503, a redirect) carries it, so a success is not searched. */
static void set_retry_after(lua_State *L, CURL *c, long status)
{
#if LIBCURL_VERSION_NUM >= 0x075400
    struct curl_header *h;
    char *end;
    long secs;
    if (status < 300 || curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return;
    secs = strtol(h->value, &end, 10);
    if (end == h->value || *end != '\0') {
        time_t when = curl_getdate(h->value, NULL);
        if (when < 0)
            return;
        secs = (long)(when - time(NULL));
    }
    set_integer(L, "retry_after", secs < 0 ? 0 : secs);
#else
    (void)L;
    (void)c;
    (void)status;
#endif
}

/* The last response's headers, names in lower case; repeats joined by ", ". */
static void set_headers(lua_State *L, CURL *c)
{
    lua_createtable(L, 0, 12); /* sized for a usual answer: growing rehashes */
#if LIBCURL_VERSION_NUM >= 0x075400
    {
        struct curl_header *h, *prev = NULL;
        char name[128];
        while ((h = curl_easy_nextheader(c, CURLH_HEADER, -1, prev)) != NULL) {
            size_t i, n = strlen(h->name);
            prev = h;
            if (n >= sizeof name)
                continue;
            for (i = 0; i < n; i++)
                name[i] = (char)(h->name[i] >= 'A' && h->name[i] <= 'Z' ? h->name[i] + 32 : h->name[i]);
            lua_pushlstring(L, name, n);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushstring(L, h->value);
            } else {
                lua_pushliteral(L, ", ");
                lua_pushstring(L, h->value);
                lua_concat(L, 3);
            }
            lua_rawset(L, -3);
        }
    }
#else
    (void)c;
#endif
    lua_setfield(L, -2, "headers");
}

static void set_answer(lua_State *L, oo_slot *slot)
{
    long status = 0;
    char *v = NULL;
    curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status);
    set_integer(L, "status", status);
    lua_pushlstring(L, slot->body.data ? slot->body.data : "", slot->body.len);
    lua_setfield(L, -2, "body");
    if (curl_easy_getinfo(slot->easy, CURLINFO_CONTENT_TYPE, &v) == CURLE_OK)
        set_string(L, "ctype", v);
    set_headers(L, slot->easy);
    set_retry_after(L, slot->easy, status);
    v = NULL;
    if (status >= 300 && status < 400 && curl_easy_getinfo(slot->easy, CURLINFO_REDIRECT_URL, &v) == CURLE_OK)
        set_string(L, "location", v);
    if (slot->streaming)
        set_integer(L, "bytes", (lua_Integer)(slot->sink.file || slot->sink.fn ? slot->sink.written : slot->done));
}

/* libcurl's codes for a failed TLS handshake or certificate check. */
static int tls_code(CURLcode rc)
{
    switch ((int)rc) {
    case 35: case 51: case 53: case 54: case 58: case 59: case 60: case 64:
    case 66: case 77: case 80: case 82: case 83: case 90: case 91:
        return 1;
    default:
        return 0;
    }
}

static void set_failure(lua_State *L, oo_slot *slot, CURLcode rc)
{
    static const char *const kinds[] = { "network", "closed", "io", "sink", "source", "network", "too_large",
                                         "login", "range" };
    const char *kind = kinds[slot->abort];
    if (slot->abort == OO_OK || slot->abort == OO_RAISED)
        kind = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : tls_code(rc) ? "tls" : "network";
    set_string(L, "kind", kind);
    if (slot->abort == OO_IO)
        set_integer(L, "errno", slot->err);
    else if (slot->abort == OO_OK || slot->abort == OO_RAISED)
        set_integer(L, "code", (lua_Integer)rc);
    if (slot->abort == OO_TOO_LARGE) {
        char n[32];
        snprintf(n, sizeof n, "%lu", (unsigned long)slot->s->max_body);
        lua_pushfstring(L, "response body larger than max_body (%s bytes)", n);
    } else if (slot->why)
        lua_pushstring(L, slot->why);
    else if (slot->abort == OO_IO) {
        char text[256];
        /* strerror may share one buffer between threads; the XSI strerror_r does not. */
        if (strerror_r(slot->err, text, sizeof text) != 0)
            snprintf(text, sizeof text, "error %d", slot->err);
        lua_pushstring(L, text);
    }
    else if (slot->abort == OO_CLOSED)
        lua_pushliteral(L, "session is closed");
    else if (slot->abort == OO_SINK || slot->abort == OO_SOURCE)
        lua_pushvalue(L, slot->anchor + OO_A_STOP);
    else
        lua_pushstring(L, slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(rc));
    lua_setfield(L, -2, "message");
}

/* Stores the finished request's response in results[index] and frees the slot. */
static void finish(lua_State *L, oo_slot *slot, CURLcode rc, int results)
{
    int keep;
    /* Closed from a callback while this transfer ran (start() refuses after):
     * it counts as closed even if no later callback came to stop it, as when
     * the portal answers before the whole upload was read. */
    if (slot->s->closing && slot->abort == OO_OK)
        slot->abort = OO_CLOSED;
    keep = rc == CURLE_OK && slot->abort == OO_OK;
    lua_createtable(L, 0, 8);
    if (keep && !slot->checked) {
        look_at_status(slot); /* an empty body never reached on_write */
        keep = slot->abort == OO_OK;
    }
    if (keep && slot->sink.file && slot->ok) {
        int err = oo_sink_close(slot, 1);
        if (err == OO_RESUME_SIZE) {
            slot->abort = OO_RANGE;
            slot->why = "the download's size is not the one the portal announced";
            keep = 0;
        } else if (err) {
            slot->abort = OO_IO;
            slot->err = err;
            keep = 0;
        }
    }
    if (keep)
        set_answer(L, slot);
    else
        set_failure(L, slot, rc);
    lua_rawseti(L, results, slot->index);
    slot_idle(slot);
}

/* ---- the loop --------------------------------------------------------- */

typedef struct loop {
    oo_send send;
    oo_session *s;
    int reqs, results, n, next, active, concurrency;
} loop;

static void closed_response(lua_State *L, int results, int i)
{
    lua_createtable(L, 0, 2);
    set_string(L, "kind", "closed");
    set_string(L, "message", "session is closed");
    lua_rawseti(L, results, i);
}

/* Starts request lp->next on the slot; one that fails before any transfer
 * (a file that cannot be opened) is finished at once. */
static void start(lua_State *L, loop *lp, oo_slot *slot)
{
    int i = lp->next++;
    if (lp->s->closing) { /* closed from a callback: what has not started never will */
        closed_response(L, lp->results, i);
        return;
    }
    slot->send = &lp->send;
    slot->index = i;
    lua_rawgeti(L, lp->reqs, i);
    if (!lua_istable(L, -1))
        luaL_error(L, "request %d is not a table", i);
    if (oo_request_setup(L, slot, lua_gettop(L)) != 0) {
        lua_pop(L, 1);
        finish(L, slot, CURLE_OK, lp->results);
        return;
    }
    lua_pop(L, 1);
    slot->errbuf[0] = '\0';
    if (curl_multi_add_handle(lp->s->multi, slot->easy) != CURLM_OK) {
        slot->why = "libcurl refused the transfer";
        slot->abort = OO_IO;
        slot->err = ENOMEM;
        finish(L, slot, CURLE_OK, lp->results);
        return;
    }
    slot->attached = 1;
    lp->active++;
}

static int collect(lua_State *L, loop *lp)
{
    CURLMsg *m;
    int queued, done = 0;
    while ((m = curl_multi_info_read(lp->s->multi, &queued)) != NULL) {
        char *p = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
        finish(L, (oo_slot *)(void *)p, m->data.result, lp->results);
        lp->active--;
        done++;
    }
    return done;
}

static void wait_for_activity(CURLM *multi)
{
#if LIBCURL_VERSION_NUM >= 0x074200
    curl_multi_poll(multi, NULL, 0, 1000, NULL);
#else
    curl_multi_wait(multi, NULL, 0, 1000, NULL);
#endif
}

/* Runs under lua_pcall: 1 = session, 2 = requests, 3 = the loop. */
static int run_loop(lua_State *L)
{
    loop *lp = (loop *)lua_touserdata(L, 3);
    oo_session *s = lp->s;
    int i, k;
    lp->send.L = L;
    lp->reqs = 2;
    lua_createtable(L, lp->n, 1);
    lp->results = lua_gettop(L);
    oo_cb_push_runner(L);
    lp->send.runner = lua_gettop(L);
    lua_pushnil(L);
    lp->send.error = lua_gettop(L);
    luaL_checkstack(L, OO_ANCHORS * lp->concurrency + 16, "too many requests at once");
    for (i = 0; i < lp->concurrency; i++) {
        s->slots[i]->anchor = lua_gettop(L) + 1;
        for (k = 0; k < OO_ANCHORS; k++)
            lua_pushnil(L);
    }
    lua_pushinteger(L, lp->n);
    lua_setfield(L, lp->results, "n");
    while (lp->next <= lp->n || lp->active > 0) {
        int still = 0;
        CURLMcode mc;
        for (i = 0; i < lp->concurrency && lp->next <= lp->n; i++)
            if (s->slots[i]->index == 0)
                start(L, lp, s->slots[i]);
        if (lp->active == 0)
            continue;
        if ((mc = curl_multi_perform(s->multi, &still)) != CURLM_OK)
            return luaL_error(L, "libcurl: %s", curl_multi_strerror(mc));
        /* A finished transfer frees a slot: start the next request before waiting. */
        if (collect(L, lp) == 0 && lp->active > 0)
            wait_for_activity(s->multi);
    }
    if (lp->send.raised) {
        lua_pushvalue(L, lp->send.error);
        return lua_error(L);
    }
    lua_pushvalue(L, lp->results);
    return 1;
}

static int core_send(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    loop lp;
    int i, rc;
    luaL_checktype(L, 2, LUA_TTABLE);
    memset(&lp, 0, sizeof lp);
    lp.s = s;
    lp.n = (int)lua_rawlen(L, 2);
    lp.next = 1;
    lp.concurrency = (int)luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, lp.concurrency >= 1 && lp.concurrency <= OO_MAX_SLOTS, 3, "concurrency must be 1 to 64");
    if (lp.concurrency > lp.n)
        lp.concurrency = lp.n > 0 ? lp.n : 1;
    if (s->sending)
        return luaL_error(L, "session is in use (called from its own callback)");
    lua_settop(L, 2);
    if (s->curl == NULL || s->closing) {
        lua_createtable(L, lp.n, 1);
        for (i = 1; i <= lp.n; i++)
            closed_response(L, 3, i);
        lua_pushinteger(L, lp.n);
        lua_setfield(L, 3, "n");
        return 1;
    }
    if (ensure_slots(s, lp.concurrency) != 0)
        return luaL_error(L, "cannot create libcurl handles");
    /* At most `concurrency` transfers run at once, one per slot, so at most as
     * many connections are in use; no connection limit on the multi handle, whose
     * accounting counts idle cached connections and would serialise transfers. */
    lua_pushcfunction(L, run_loop);
    lua_insert(L, 1);
    lua_pushlightuserdata(L, &lp);
    s->sending = 1;
    rc = lua_pcall(L, 3, 1, 0);
    s->sending = 0;
    /* Whatever happened, nothing stays attached or open, and libcurl keeps no
     * pointer into Lua strings or freed lists. */
    for (i = 0; i < s->nslots; i++)
        slot_idle(s->slots[i]);
    if (rc != 0)
        return lua_error(L);
    return 1;
}

void oo_send_private(lua_State *L)
{
    lua_pushcfunction(L, core_send);
    lua_setfield(L, -2, "send");
}
