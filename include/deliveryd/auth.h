/* Passwords (argon2id via libsodium), tokens (HS256 JWT via libjwt) and
 * the keyed hashes we use for secrets at rest. No HTTP types here. */
#ifndef DELIVERYD_AUTH_H
#define DELIVERYD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deliveryd/util.h"

#define PASSWORD_HASH_LEN 128 /* crypto_pwhash_STRBYTES */

/** Must run once before threads start (prepares the dummy hash). */
int password_global_init(void) MUSTCHECK;
/** argon2id hash into out (PASSWORD_HASH_LEN bytes). At most a few hashes
 * run at once (64 MiB each); others wait. */
int password_hash(const char *password, char out[PASSWORD_HASH_LEN]) MUSTCHECK;
/** Verifies; hash NULL burns the same work against a dummy hash and fails. */
bool password_verify(const char *password, const char *hash);

enum token_status { TOKEN_OK = 0, TOKEN_INVALID, TOKEN_EXPIRED };

struct token_claims {
    int64_t user_id;
    char role[16];
    long iat, exp;
};

#define ACCESS_TOKEN_TTL 900
/** Makes an access token for (user, role); the caller frees it. */
char *jwt_make_access(int64_t user_id, const char *role, long now, const char *secret);
/** Checks signature (HS256 only), typ "access", exp (30 s leeway), sub, role. */
enum token_status jwt_check_access(const char *token, const char *secret, long now,
                                   struct token_claims *out);

/** 256-bit random token, base64url without padding (43 chars + NUL). */
void random_token(char out[48]);
/** SHA-256 of s as 32 raw bytes. */
void sha256_bytes(const char *s, size_t len, unsigned char out[32]);

/** The signature of our webhooks (in and out): HMAC-SHA256(key, ts "." body)
 * as 64 lowercase hex digits + NUL. Any key length. */
/** HMAC-SHA256(key, ts + "." + body): the signature of the D365 webhook in
 * and of every delivery out (any key length). */
void hmac_sha256_ts(const char *key, const char *ts, const char *body, size_t len,
                    unsigned char mac[32]);
void hmac_sha256_ts_hex(const char *key, const char *ts, const char *body, size_t len,
                        char out[65]);
/** 32 random bytes as 64 lowercase hex digits + NUL (webhook secrets). */
void random_hex32(char out[65]);

#endif
