/* The password never returns to Lua once handed in: the login body is built here
 * and wiped after the exchange, so re-login creates no Lua string holding it. */
#include "credentials.h"

#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#include "compat.h"
#include "secret.h"
#include "session.h"
#include "transfer.h"

/* core.credentials(s, username, password) */
static int set_credentials(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    size_t ulen, plen;
    const char *user = luaL_checklstring(L, 2, &ulen);
    const char *pass = luaL_checklstring(L, 3, &plen);
    if (oo_secret_set(&s->username, user, ulen) || oo_secret_set(&s->password, pass, plen))
        return luaL_error(L, "out of memory");
    return 0;
}

/* core.set_token(s, token [, expires]) -> true | nil, message */
static int set_token(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    size_t tlen, elen = 0;
    const char *token = luaL_checklstring(L, 2, &tlen);
    const char *expires = luaL_optlstring(L, 3, NULL, &elen);
    if (tlen == 0 || !oo_header_safe(token, tlen) || strchr(token, ';') != NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "the portal sent a token that cannot be used in a header");
        return 2;
    }
    if (oo_secret_set(&s->token, token, tlen) || oo_secret_set(&s->expires, expires, elen) ||
        oo_session_build_headers(s))
        return luaL_error(L, "out of memory");
    lua_pushboolean(L, 1);
    return 1;
}

/* core.forget_password(s): wipes the password; re-login is impossible after it. */
static int forget_password(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    oo_secret_free(&s->password);
    return 0;
}

static int can_relogin(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    lua_pushboolean(L, s->curl != NULL && s->password != NULL && s->username != NULL);
    return 1;
}

/* The first occurrence of needle in hay[0..n), NUL bytes included, or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    const char *p = hay, *end = hay + n;
    while (m <= (size_t)(end - p) && (p = memchr(p, needle[0], (size_t)(end - p) - m + 1)) != NULL) {
        if (memcmp(p, needle, m) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* Replaces every occurrence of secret in the string on top of the stack. The
 * text may hold NUL bytes (a server's body): search all of it, not a C string. */
static void redact_one(lua_State *L, const char *secret)
{
    size_t slen = secret ? strlen(secret) : 0;
    size_t len;
    const char *str, *end, *hit;
    luaL_Buffer b;
    if (slen == 0)
        return;
    str = lua_tolstring(L, -1, &len);
    end = str + len;
    if ((hit = find_bytes(str, len, secret, slen)) == NULL)
        return;
    luaL_buffinit(L, &b);
    do {
        luaL_addlstring(&b, str, (size_t)(hit - str));
        luaL_addstring(&b, "***");
        str = hit + slen;
    } while ((hit = find_bytes(str, (size_t)(end - str), secret, slen)) != NULL);
    luaL_addlstring(&b, str, (size_t)(end - str));
    luaL_pushresult(&b);
    lua_remove(L, -2);
}

/* core.redact(s, text) -> text with the token and the password replaced by *** */
static int redact(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    redact_one(L, s->token);
    redact_one(L, s->password);
    return 1;
}

static int code_ok(const char *code)
{
    const char *p;
    for (p = code; *p; p++)
        if (!isalnum((unsigned char)*p))
            return 0;
    return p != code && p - code <= 64;
}

static int build_login(const oo_session *s, const char *code, oo_buffer *b, char *target,
                       size_t size)
{
    strcpy(target, "/api/2.0/authentication");
    if (code) {
        strcat(target, "/");
        strncat(target, code, size - strlen(target) - 1);
    }
    return oo_buffer_addstr(b, "{\"userName\":") ||
           oo_buffer_add_json(b, s->username, strlen(s->username)) ||
           oo_buffer_addstr(b, ",\"password\":") ||
           oo_buffer_add_json(b, s->password, strlen(s->password)) ||
           (code && (oo_buffer_addstr(b, ",\"code\":") || oo_buffer_add_json(b, code, strlen(code)))) ||
           oo_buffer_addstr(b, "}");
}

/* core.login(s [, code]) -> the results of a transfer (see transfer.h) */
static int login(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    const char *code = luaL_optstring(L, 2, NULL);
    char target[96];
    oo_buffer body = { NULL, 0, 0 };
    oo_request r;
    int n = -1;
    if (code && !code_ok(code))
        return luaL_argerror(L, 2, "a two-factor code is 1 to 64 letters or digits");
    if (s->curl == NULL || s->password == NULL || s->username == NULL) {
        lua_pushnil(L);
        lua_pushstring(L, s->curl ? "no password is kept for this session" : "session is closed");
        return 2;
    }
    if (build_login(s, code, &body, target, sizeof target) == 0) {
        memset(&r, 0, sizeof r);
        r.method = "POST";
        r.target = target;
        r.body = body.data;
        r.body_len = body.len;
        r.headers = s->h_login;
        n = oo_transfer(L, s, &r);
    }
    oo_buffer_wipe(&body);
    oo_buffer_free(&body);
    return n < 0 ? luaL_error(L, "out of memory") : n;
}

void oo_credentials_register(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "credentials", set_credentials },
        { "set_token", set_token },
        { "forget_password", forget_password },
        { "can_relogin", can_relogin },
        { "redact", redact },
        { "login", login },
        { NULL, NULL }
    };
    luaL_setfuncs(L, fns, 0);
}
