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

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static long hex_at(const char *p, const char *end, int digits)
{
    long v = 0;
    int i, h;
    if (end - p < digits)
        return -1;
    for (i = 0; i < digits; i++) {
        if ((h = hexval((unsigned char)p[i])) < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static int add_utf8(oo_buffer *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return oo_buffer_add(b, u, n);
}

/* One JSON escape at p (after the backslash) appended to b; the bytes it used. */
static size_t json_escape(oo_buffer *b, const char *p, const char *end, int *rc)
{
    static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
    const char *k = memchr(from, *p, 5);
    long u = *p == 'u' ? hex_at(p + 1, end, 4) : -1;
    if (u >= 0xD800 && u <= 0xDBFF && end - p >= 11 && p[5] == '\\' && p[6] == 'u') {
        long lo = hex_at(p + 7, end, 4);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            *rc = add_utf8(b, 0x10000 + (((unsigned long)u - 0xD800) << 10) + ((unsigned long)lo - 0xDC00));
            return 11;
        }
    }
    if (u >= 0) {
        *rc = add_utf8(b, (unsigned long)u);
        return 5;
    }
    *rc = oo_buffer_add(b, k ? &to[k - from] : p, 1);
    return 1;
}

/* The text with its JSON string escapes (url = 0) or its %XX and '+' (url = 1)
 * decoded, in b: however a server encoded the password, it shows there raw. */
static int decode(oo_buffer *b, const char *p, size_t len, int url)
{
    const char *end = p + len;
    int rc = 0;
    while (p < end && rc == 0) {
        long v;
        if (!url && *p == '\\' && p + 1 < end) {
            p++;
            p += json_escape(b, p, end, &rc);
        } else if (url && *p == '%' && (v = hex_at(p + 1, end, 2)) >= 0) {
            char c = (char)v;
            rc = oo_buffer_add(b, &c, 1);
            p += 3;
        } else {
            rc = oo_buffer_add(b, url && *p == '+' ? " " : p, 1);
            p++;
        }
    }
    return rc;
}

/* 1 when the string on top holds the password decoded either way; -1 when
 * memory ran out. The decoded copies may hold it: they are wiped. */
static int holds_decoded(lua_State *L, const char *password)
{
    size_t len, plen = strlen(password);
    const char *text = lua_tolstring(L, -1, &len);
    int url, found = 0, rc = 0;
    for (url = 0; url < 2 && !found && rc == 0; url++) {
        oo_buffer b = { NULL, 0, 0 };
        rc = decode(&b, text, len, url);
        found = rc == 0 && b.len > 0 && find_bytes(b.data, b.len, password, plen) != NULL;
        oo_buffer_wipe(&b);
        oo_buffer_free(&b);
    }
    return rc ? -1 : found;
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
    const char *secrets[5];
    int i, rc;
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    secrets[0] = s->password;
    secrets[1] = s->token;
    secrets[2] = s->previous;
    secrets[3] = s->refresh;
    secrets[4] = s->client_secret;
    for (i = 0; i < 5; i++) {
        if (secrets[i] == NULL || secrets[i][0] == '\0')
            continue;
        if (strlen(secrets[i]) < OO_REDACT_MIN || (rc = redact_secret(L, secrets[i], i == 0)) == 1 ||
            (i == 0 && (rc = holds_decoded(L, secrets[i])) == 1)) {
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
