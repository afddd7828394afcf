/* HS256 access tokens with libjwt 1.10. That version verifies nothing but
 * the signature (and skips even that with an empty key), accepts any HMAC
 * algorithm for the key, and has no claim validation: all of it is here. */
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/auth.h"

#define LEEWAY_SECONDS 30
#define MAX_TOKEN_LEN 4096

char *jwt_make_access(int64_t user_id, const char *role, long now, const char *secret)
{
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0) return NULL;
    char sub[24];
    snprintf(sub, sizeof sub, "%ld", (long)user_id);
    char *out = NULL;
    if (jwt_add_grant(jwt, "sub", sub) == 0 && jwt_add_grant(jwt, "role", role) == 0 &&
        jwt_add_grant(jwt, "typ", "access") == 0 && jwt_add_grant_int(jwt, "iat", now) == 0 &&
        jwt_add_grant_int(jwt, "exp", now + ACCESS_TOKEN_TTL) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return out;
}

/* libjwt 1.10 returns 0 without an error for a claim of another JSON
 * type: look at the claim's JSON text and accept only an integer. */
static bool claim_int(jwt_t *jwt, const char *name, long *out)
{
    char *j = jwt_get_grants_json(jwt, name);
    if (!j) return false;
    int64_t v;
    bool ok = parse_i64(j, strlen(j), true, &v);
    free(j);
    if (!ok) return false;
    *out = (long)v;
    return true;
}

enum token_status jwt_check_access(const char *token, const char *secret, long now,
                                   struct token_claims *out)
{
    memset(out, 0, sizeof *out);
    if (!token || !secret || strlen(secret) < 32 || strlen(token) > MAX_TOKEN_LEN)
        return TOKEN_INVALID;
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret)) != 0 ||
        !jwt) {
        if (jwt) jwt_free(jwt);
        return TOKEN_INVALID;
    }
    enum token_status st = TOKEN_INVALID;
    const char *sub = jwt_get_grant(jwt, "sub");
    const char *role = jwt_get_grant(jwt, "role");
    const char *typ = jwt_get_grant(jwt, "typ");
    long exp = 0, iat = 0, nbf = 0;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) goto out;
    if (!sub || !role || !typ || strcmp(typ, "access") != 0) goto out;
    if (!claim_int(jwt, "exp", &exp) || !claim_int(jwt, "iat", &iat)) goto out;
    if (claim_int(jwt, "nbf", &nbf) && nbf > now + LEEWAY_SECONDS) goto out;
    if (iat > now + LEEWAY_SECONDS) goto out;
    if (strcmp(role, "admin") != 0 && strcmp(role, "manager") != 0 &&
        strcmp(role, "driver") != 0)
        goto out;
    int64_t uid;
    if (!parse_i64(sub, strlen(sub), false, &uid) || uid <= 0) goto out;
    if (exp + LEEWAY_SECONDS < now) {
        st = TOKEN_EXPIRED;
        goto out;
    }
    out->user_id = uid;
    snprintf(out->role, sizeof out->role, "%s", role);
    out->iat = iat;
    out->exp = exp;
    st = TOKEN_OK;
out:
    jwt_free(jwt);
    return st;
}
