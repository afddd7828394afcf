/* The webhooks' signature and secrets (include/deliveryd/auth.h). */
#include <sodium.h>
#include <string.h>

#include "deliveryd/auth.h"

void hmac_sha256_ts(const char *key, const char *ts, const char *body, size_t len,
                    unsigned char mac[32])
{
    /* the init/update/final form accepts a key of any length */
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
}

void hmac_sha256_ts_hex(const char *key, const char *ts, const char *body, size_t len,
                        char out[65])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    hmac_sha256_ts(key, ts, body, len, mac);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

void random_hex32(char out[65])
{
    unsigned char b[32];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, 65, b, sizeof b);
}
