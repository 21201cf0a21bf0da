/* webhook_verify(secret, body, hex) -> true | false, reason
 *
 * DocSpace signs each delivery with HMAC-SHA256 over the exact body bytes, the
 * key being the UTF-8 bytes of the webhook's secret, and sends the digest as
 * upper-case hex. The hex a receiver got is decoded to bytes (so its case does
 * not matter) and compared with the computed digest in constant time: how far
 * a forged signature matches must not show in the time the answer takes. Both
 * digests are wiped before returning. lua/onlyoffice/webhook.lua checks the
 * arguments and strips the header's "sha256=" prefix. */
#include <limits.h>
#include <stddef.h>

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webhook.h"

#define DIGEST_BYTES 32

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 2 * DIGEST_BYTES hex digits, any case, into out; 0 when they are. */
static int decode_hex(const char *hex, size_t n, unsigned char *out)
{
    size_t i;
    if (n != 2 * DIGEST_BYTES)
        return -1;
    for (i = 0; i < DIGEST_BYTES; i++) {
        int hi = hex_digit((unsigned char)hex[2 * i]);
        int lo = hex_digit((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static int answer(lua_State *L, unsigned char *given, unsigned char *mac, size_t mac_size, const char *reason)
{
    OPENSSL_cleanse(given, DIGEST_BYTES);
    OPENSSL_cleanse(mac, mac_size);
    lua_pushboolean(L, reason == NULL);
    if (reason == NULL)
        return 1;
    lua_pushstring(L, reason);
    return 2;
}

static int webhook_verify(lua_State *L)
{
    size_t key_len, body_len, hex_len;
    const char *key = luaL_checklstring(L, 1, &key_len);
    const char *body = luaL_checklstring(L, 2, &body_len);
    const char *hex = luaL_checklstring(L, 3, &hex_len);
    unsigned char given[DIGEST_BYTES];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    luaL_argcheck(L, key_len > 0 && key_len <= INT_MAX, 1, "the secret must be 1 to INT_MAX bytes");
    if (decode_hex(hex, hex_len, given) != 0)
        return answer(L, given, mac, sizeof mac, "signature is not sha256=<64 hex digits>");
    if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)body, body_len, mac, &mac_len) == NULL
        || mac_len != DIGEST_BYTES)
        return answer(L, given, mac, sizeof mac, "HMAC-SHA256 failed in OpenSSL");
    if (CRYPTO_memcmp(mac, given, DIGEST_BYTES) != 0)
        return answer(L, given, mac, sizeof mac, "signature does not match");
    return answer(L, given, mac, sizeof mac, NULL);
}

void oo_webhook_register(lua_State *L)
{
    lua_pushcfunction(L, webhook_verify);
    lua_setfield(L, -2, "webhook_verify");
}
