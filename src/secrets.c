#include "secrets.h"

#include <string.h>

#include <lauxlib.h>

#include "compat.h"
#include "secret.h"

/* credentials(s, username, password) */
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

static const char *const KINDS[] = { "login", "key", "oauth", NULL };

/* set_token(s, token [, expires [, kind]]) -> true | nil, message; kind is
 * "login" (the default: sent bare), "key" or "oauth" (sent as Bearer). */
static int set_token(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    size_t tlen, elen = 0;
    const char *token = luaL_checklstring(L, 2, &tlen);
    const char *expires = luaL_optlstring(L, 3, NULL, &elen);
    int kind = luaL_checkoption(L, 4, "login", KINDS);
    if (tlen == 0 || !oo_header_safe(token, tlen) || strchr(token, ';') != NULL ||
        (expires && !oo_header_safe(expires, elen))) {
        lua_pushnil(L);
        lua_pushliteral(L, "the portal sent a token that cannot be used in a header");
        return 2;
    }
    if (s->curl == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "session is closed");
        return 2;
    }
    if (oo_secret_set(&s->expires, expires, elen))
        return luaL_error(L, "out of memory");
    oo_secret_free(&s->previous);
    s->previous = s->token;
    s->token = NULL;
    s->bearer = kind;
    if (oo_secret_set(&s->token, token, tlen) || oo_session_build_headers(s))
        return luaL_error(L, "out of memory");
    lua_pushboolean(L, 1);
    return 1;
}

/* oauth_client(s, refresh_token [, client_id, client_secret]): what
 * /oauth2/token needs to refresh the access token; kept and wiped like the
 * password. A rotated refresh token comes alone. */
static int oauth_client(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    size_t rlen, ilen = 0, slen = 0;
    const char *refresh = luaL_checklstring(L, 2, &rlen);
    const char *id = luaL_optlstring(L, 3, NULL, &ilen);
    const char *secret = luaL_optlstring(L, 4, NULL, &slen);
    if (oo_secret_set(&s->refresh, refresh, rlen) || (id && oo_secret_set(&s->client_id, id, ilen)) ||
        (secret && oo_secret_set(&s->client_secret, secret, slen)))
        return luaL_error(L, "out of memory");
    return 0;
}

/* authorization(s) -> the Authorization header's value, or nil without a
 * token. Only for transports that send from Lua (nginx subrequests). */
static int authorization(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    if (s->curl == NULL || s->closing || s->token == NULL)
        lua_pushnil(L);
    else if (s->bearer)
        lua_pushfstring(L, "Bearer %s", s->token);
    else
        lua_pushstring(L, s->token);
    return 1;
}

/* forget_password(s): wipes the password; re-login is impossible after it. */
static int forget_password(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    oo_secret_free(&s->password);
    return 0;
}

static int can_relogin(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    lua_pushboolean(L, s->curl != NULL && !s->closing &&
                           ((s->password != NULL && s->username != NULL) || s->refresh != NULL));
    return 1;
}

/* ASCII letters and digits only: isalnum would follow the C locale. */
static int code_ok(const char *code)
{
    const char *p;
    for (p = code; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    return p != code && p - code <= 64;
}

int oo_login_body(lua_State *L, const oo_session *s, const char *code, oo_buffer *b)
{
    if (code && !code_ok(code))
        return luaL_error(L, "a two-factor code is 1 to 64 letters or digits");
    if (s->password == NULL || s->username == NULL)
        return -1;
    b->len = 0;
    if (oo_buffer_addstr(b, "{\"userName\":") || oo_buffer_add_json(b, s->username, strlen(s->username)) ||
        oo_buffer_addstr(b, ",\"password\":") || oo_buffer_add_json(b, s->password, strlen(s->password)) ||
        (code && (oo_buffer_addstr(b, ",\"code\":") || oo_buffer_add_json(b, code, strlen(code)))) ||
        oo_buffer_addstr(b, "}")) {
        oo_buffer_wipe(b);
        return luaL_error(L, "out of memory");
    }
    return 0;
}

/* Appends v form-encoded (application/x-www-form-urlencoded). */
static int add_form(oo_buffer *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        char esc[3];
        int plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
        esc[0] = '%';
        esc[1] = hex[c >> 4];
        esc[2] = hex[c & 15];
        if (plain ? oo_buffer_add(b, (const char *)&c, 1) : oo_buffer_add(b, esc, 3))
            return -1;
    }
    return 0;
}

int oo_refresh_body(lua_State *L, const oo_session *s, oo_buffer *b)
{
    if (s->refresh == NULL || s->client_id == NULL || s->client_secret == NULL)
        return -1;
    b->len = 0;
    if (oo_buffer_addstr(b, "grant_type=refresh_token&refresh_token=") || add_form(b, s->refresh) ||
        oo_buffer_addstr(b, "&client_id=") || add_form(b, s->client_id) ||
        oo_buffer_addstr(b, "&client_secret=") || add_form(b, s->client_secret)) {
        oo_buffer_wipe(b);
        return luaL_error(L, "out of memory");
    }
    return 0;
}

/* The protected half of secret_body: (buffer, session, what, code) -> body | nil. */
static int build_body(lua_State *L)
{
    oo_buffer *b = (oo_buffer *)lua_touserdata(L, 1);
    const oo_session *s = (const oo_session *)lua_touserdata(L, 2);
    int failed = lua_toboolean(L, 3) ? oo_refresh_body(L, s, b) : oo_login_body(L, s, lua_tostring(L, 4), b);
    if (failed != 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, b->data, b->len);
    return 1;
}

/* A body built from the kept secrets, as a Lua string. Only for transports
 * that send from Lua (nginx subrequests): the curl path builds it in C and
 * never makes this string. */
static int secret_body(lua_State *L, oo_session *s, int refresh, const char *code)
{
    oo_buffer b = { NULL, 0, 0 };
    int failed;
    /* Built and pushed under pcall: an error must not skip the wipe. */
    lua_pushcfunction(L, build_body);
    lua_pushlightuserdata(L, &b);
    lua_pushlightuserdata(L, s);
    lua_pushboolean(L, refresh);
    if (code)
        lua_pushstring(L, code);
    else
        lua_pushnil(L);
    failed = lua_pcall(L, 4, 1, 0);
    oo_buffer_wipe(&b);
    oo_buffer_free(&b);
    if (failed)
        return lua_error(L);
    return 1;
}

/* login_body(s [, code]) -> the login's JSON body, or nil without a password. */
static int login_body(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    return secret_body(L, s, 0, luaL_optstring(L, 2, NULL));
}

/* refresh_body(s) -> the /oauth2/token form, or nil without a refresh token. */
static int refresh_body(lua_State *L)
{
    return secret_body(L, oo_session_check(L, 1), 1, NULL);
}

void oo_secrets_private(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "credentials", set_credentials },
        { "set_token", set_token },
        { "forget_password", forget_password },
        { "can_relogin", can_relogin },
        { "login_body", login_body },
        { "refresh_body", refresh_body },
        { "oauth_client", oauth_client },
        { "authorization", authorization },
        { NULL, NULL }
    };
    luaL_setfuncs(L, fns, 0);
}
