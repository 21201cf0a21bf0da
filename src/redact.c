/* redact(s, text) -> text with every form of the token (the current one, and
 * the one before a re-login) replaced by ***; or nil, for the caller to drop
 * the text, when it holds the password in any form or the session keeps a
 * secret shorter than OO_REDACT_MIN (likely an ordinary word, which replacing
 * would reveal). Only the portal's text comes here, never the module's own. */
#include "redact.h"

#include <string.h>

#include <lauxlib.h>

#include "buffer.h"
#include "session.h"

#define OO_REDACT_MIN 8
#define OO_VARIANTS 13

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

/* Replaces every occurrence of secret in the string on top of the stack. */
static void replace_all(lua_State *L, const char *secret, size_t slen)
{
    size_t len;
    const char *str = lua_tolstring(L, -1, &len), *end = str + len, *hit;
    luaL_Buffer b;
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

static int unreserved(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* The secret as a URL (form: '+' for space) or JSON (slash: "\/") would carry it. */
static int encode_url(oo_buffer *b, const char *s, size_t n, const char *hex, int form)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
        int rc = unreserved(c) ? oo_buffer_add(b, s + i, 1)
                 : (form && c == ' ') ? oo_buffer_add(b, "+", 1)
                                       : oo_buffer_add(b, esc, 3);
        if (rc)
            return -1;
    }
    return 0;
}

/* The secret as a JSON string's inside: control bytes as \uXXXX (hex in
 * `hex`'s case) or, with `short_forms`, as \b \f \n \r \t where JSON has them;
 * '/' as "\/" with `slash` (cjson does that); the bytes in `as_unicode` as
 * \uXXXX too (.NET's default encoder does that for '"', '+' and HTML's). */
static int encode_json(oo_buffer *b, const char *s, size_t n, const char *hex, int short_forms, int slash,
                       const char *as_unicode)
{
    static const char codes[] = "\b\f\n\r\t", letters[] = "bfnrt";
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        const char *k = short_forms && c != 0 ? memchr(codes, c, sizeof codes - 1) : NULL;
        int rc;
        if (c != 0 && strchr(as_unicode, c) != NULL)
            rc = oo_buffer_add(b, esc, sizeof esc);
        else if (c == '"' || c == '\\' || (slash && c == '/'))
            rc = oo_buffer_add(b, "\\", 1) || oo_buffer_add(b, s + i, 1);
        else if (k != NULL)
            rc = oo_buffer_add(b, "\\", 1) || oo_buffer_add(b, &letters[k - codes], 1);
        else if (c < 0x20)
            rc = oo_buffer_add(b, esc, sizeof esc);
        else
            rc = oo_buffer_add(b, s + i, 1);
        if (rc)
            return -1;
    }
    return 0;
}

/* Raw; JSON in every combination of short escapes, "\/" and hex case that
 * encoders write (cjson: short escapes, "\/", lower case) and as .NET writes
 * it; URL-encoded with upper- and lower-case hex, and as a form ('+'). Repeats
 * are skipped later. */
static int make_variants(oo_buffer *v, const char *s, size_t n)
{
    static const char *const hex[2] = { "0123456789abcdef", "0123456789ABCDEF" };
    int k;
    if (oo_buffer_add(&v[0], s, n))
        return -1;
    for (k = 0; k < 8; k++)
        if (encode_json(&v[1 + k], s, n, hex[k & 1], (k >> 1) & 1, (k >> 2) & 1, ""))
            return -1;
    return encode_url(&v[9], s, n, hex[1], 0) || encode_url(&v[10], s, n, hex[0], 0) ||
           encode_url(&v[11], s, n, hex[1], 1) || encode_json(&v[12], s, n, hex[1], 1, 0, "\"+<>&'`");
}

static void free_variants(oo_buffer *v)
{
    int i;
    for (i = 0; i < OO_VARIANTS; i++) {
        oo_buffer_wipe(&v[i]);
        oo_buffer_free(&v[i]);
    }
}

/* For every form of secret in the string on top: replaces it (drop = 0), or
 * stops at the first and reports 1 (drop = 1); -1 when memory ran out. */
static int redact_secret(lua_State *L, const char *secret, int drop)
{
    oo_buffer v[OO_VARIANTS];
    int i, j, found = 0;
    memset(v, 0, sizeof v);
    if (make_variants(v, secret, strlen(secret))) {
        free_variants(v);
        return -1;
    }
    for (i = 0; i < OO_VARIANTS && !found; i++) {
        int seen = 0;
        size_t len;
        const char *text;
        for (j = 0; j < i; j++)
            seen = seen || (v[j].len == v[i].len && memcmp(v[j].data, v[i].data, v[i].len) == 0);
        if (seen || v[i].len == 0)
            continue;
        text = lua_tolstring(L, -1, &len);
        if (drop)
            found = find_bytes(text, len, v[i].data, v[i].len) != NULL;
        else
            replace_all(L, v[i].data, v[i].len);
    }
    free_variants(v);
    return found;
}

/* Tokens are random: replacing one shows nothing. A password may be a word
 * the text holds anyway (a password "authentication" in "User authentication
 * failed"): where the *** lands would show it, so such text is dropped whole. */
static int redact(lua_State *L)
{
    oo_session *s = oo_session_check(L, 1);
    const char *secrets[3];
    int i, rc;
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    secrets[0] = s->password;
    secrets[1] = s->token;
    secrets[2] = s->previous;
    for (i = 0; i < 3; i++) {
        if (secrets[i] == NULL || secrets[i][0] == '\0')
            continue;
        if (strlen(secrets[i]) < OO_REDACT_MIN || (rc = redact_secret(L, secrets[i], i == 0)) == 1) {
            lua_pushnil(L);
            return 1;
        }
        if (rc < 0)
            return luaL_error(L, "out of memory");
    }
    return 1;
}

void oo_redact_private(lua_State *L)
{
    lua_pushcfunction(L, redact);
    lua_setfield(L, -2, "redact");
}
