/* /auth: login with lockout, refresh-token rotation with reuse detection,
 * logout, me, password change. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliveryd/api.h"
#include "deliveryd/auth.h"
#include "deliveryd/config.h"
#include "deliveryd/fields.h"
#include "deliveryd/principal.h"
#include "deliveryd/settings.h"

/* A string member of the body, untrimmed, or NULL (passwords, tokens). */
static const char *raw_string(struct req *r, const char *name, size_t max)
{
    json_t *v = json_object_get(r->json, name);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

/* SHA-256 of a refresh token as hex, the form stored (decode($n,'hex')). */
static const char *token_hash_hex(struct req *r, const char *token)
{
    unsigned char h[32];
    sha256_bytes(token, strlen(token), h);
    char *hex = req_alloc(r, 65);
    hex_encode(h, sizeof h, hex);
    return hex;
}

/* Issues an access token for user_id and replies with the login body and
 * the new refresh token, whose row the caller has inserted already. */
static void reply_tokens(struct req *r, int64_t user_id, const char *role, const char *refresh,
                         const char *user_body)
{
    char *access = jwt_make_access(user_id, role, (long)time(NULL), g_cfg.jwt_secret);
    if (!access) {
        reply_problem(r, 500, "internal", "could not sign the token");
        return;
    }
    json_t *user = json_loads(user_body, 0, NULL);
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:o}", "access_token", access, "token_type",
                          "Bearer", "expires_in", ACCESS_TOKEN_TTL, "refresh_token", refresh,
                          "user", user ? user : json_null());
    free(access);
    reply_json(r, 200, j);
}

/* A new random refresh token: the hash, User-Agent and address its row
 * stores ($2..$4 of auth_refresh_insert and auth_refresh_rotate). */
struct refresh_row {
    const char *hash, *user_agent, *ip;
};

static struct refresh_row new_refresh(struct req *r, char token[48])
{
    random_token(token);
    /* kept for the user's list of sessions; bytes that are not UTF-8
     * cannot be stored as text, and are no reason to refuse a login */
    const char *ua = req_header(r, "User-Agent");
    return (struct refresh_row){token_hash_hex(r, token), utf8_valid(ua) ? ua : NULL,
                                r->client_ip};
}

static int new_refresh_token(struct req *r, const char *uid, char token[48])
{
    struct refresh_row t = new_refresh(r, token);
    return db_q_or_reply(r, Q(auth_refresh_insert)(uid, t.hash, t.user_agent, t.ip)) ? 0 : -1;
}

static void locked_reply(struct req *r, const char *retry)
{
    reply_header(r, "Retry-After", retry);
    reply_problem(r, 423, "account_locked", "the account is locked; retry in %s s", retry);
}

/* A wrong password for user `uid` (at login, or as the current password of
 * a password change): counted toward the lockout. An expired lock starts a
 * new count; reaching lockout_threshold locks for lockout_minutes. Replies
 * 423 and returns -1 when the account is (now) locked, or -1 after the
 * database's error; 0: the caller answers the wrong password its own way. */
static int count_failure_or_reply(struct req *r, const char *uid)
{
    enum { C_LOCKED, C_RETRY };
    db_res *f = db_q_or_reply(r, Q(auth_count_failure)(uid, setting_text(r, "lockout_threshold", 5),
                                                       setting_text(r, "lockout_minutes", 15)));
    if (!f) return -1;
    if (db_ntuples(f) == 1 && db_get(f, 0, C_LOCKED)[0] == 't') {
        locked_reply(r, db_get(f, 0, C_RETRY));
        return -1;
    }
    return 0;
}

void api_auth_login(struct req *r)
{
    static const struct fv_field f[] = {
        {"username", FV_STRING, FV_REQUIRED | FV_NONBLANK, 0, 0, 254, NULL},
    };
    enum { F_USERNAME };
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    const char *password = raw_string(r, "password", PASSWORD_MAX_LEN);
    if (!password) {
        reply_field_error(r, "password", "is required");
        return;
    }
    char phone[24];
    const char *phone_p =
        phone_normalize(v.text[F_USERNAME], phone, sizeof phone) == 0 ? phone : NULL;
    /* the columns of auth_login_lookup */
    enum { U_ID, U_HASH, U_ROLE, U_ACTIVE, U_LOCKED, U_RETRY };
    db_res *u = db_q_or_reply(r, Q(auth_login_lookup)(v.text[F_USERNAME], phone_p));
    if (!u) return;
    if (db_ntuples(u) == 0) {
        (void)password_verify(password, NULL); /* same work as a known user */
        reply_problem(r, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    const char *uid = db_get(u, 0, U_ID);
    bool ok = password_verify(password, db_get(u, 0, U_HASH));
    if (db_get(u, 0, U_LOCKED)[0] == 't') {
        locked_reply(r, db_get(u, 0, U_RETRY));
        return;
    }
    if (!ok) {
        if (count_failure_or_reply(r, uid) == 0)
            reply_problem(r, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    if (db_get(u, 0, U_ACTIVE)[0] != 't') {
        reply_problem(r, 403, "account_disabled", "the account is deactivated");
        return;
    }
    if (!db_q_or_reply(r, Q(auth_login_succeeded)(uid))) return;
    principal_invalidate(atoll(uid)); /* last_login_at changed */
    char refresh[48];
    if (new_refresh_token(r, uid, refresh) < 0) return;
    db_res *b = db_q_or_reply(r, Q(auth_user_body)(uid));
    if (!b || db_ntuples(b) != 1) {
        if (b) reply_problem(r, 500, "internal", "user vanished during login");
        return;
    }
    reply_tokens(r, atoll(uid), db_get(u, 0, U_ROLE), refresh, db_get(b, 0, 0));
}

void api_auth_refresh(struct req *r)
{
    const char *token = raw_string(r, "refresh_token", 128);
    if (!token) {
        reply_field_error(r, "refresh_token", "is required");
        return;
    }
    const char *hash = token_hash_hex(r, token);
    char refresh[48];
    struct refresh_row t = new_refresh(r, refresh);
    /* Rotation in one statement: the old token is revoked and its successor
     * stored together. A second request with the same token waits for the
     * first's row lock, then finds it revoked and takes the reuse branch
     * below, which therefore always sees (and revokes) the successor: two
     * separate statements let it run between them, leaving a thief who
     * won the race a live session, or a legitimate client a token that
     * was revoked behind its back. */
    enum { O_USER_ID, O_ROLE };
    db_res *old = db_q_or_reply(r, Q(auth_refresh_rotate)(hash, t.hash, t.user_agent, t.ip));
    if (!old) return;
    if (db_ntuples(old) == 0) {
        /* A revoked token presented again: someone holds a stolen copy.
         * Revoke every refresh token of that user. */
        if (!db_q_or_reply(r, Q(auth_refresh_reused)(hash))) return;
        reply_problem(r, 401, "unauthorized", "the refresh token is invalid or was already used");
        return;
    }
    const char *uid = db_get(old, 0, O_USER_ID);
    db_res *b = db_q_or_reply(r, Q(auth_user_body)(uid));
    if (!b || db_ntuples(b) != 1) {
        if (b) reply_problem(r, 401, "unauthorized", "the user no longer exists");
        return;
    }
    reply_tokens(r, atoll(uid), db_get(old, 0, O_ROLE), refresh, db_get(b, 0, 0));
}

void api_auth_logout(struct req *r)
{
    const char *token = raw_string(r, "refresh_token", 128);
    if (!token) {
        reply_field_error(r, "refresh_token", "is required");
        return;
    }
    if (!db_q_or_reply(r, Q(auth_logout)(token_hash_hex(r, token)))) return;
    reply_no_content(r);
}

void api_auth_me(struct req *r)
{
    /* the auth gate has just loaded (or re-checked) this user: reuse it */
    char body[2048];
    if (principal_body(r->who.user_id, body, sizeof body)) {
        reply_json_text(r, 200, body, strlen(body));
        return;
    }
    db_res *b = db_q_or_reply(r, Q(auth_user_body)(id_text(r, r->who.user_id)));
    if (b) reply_row_json(r, 200, b);
}

void api_auth_password(struct req *r)
{
    static const struct fv_field f[] = {
        {"new_password", FV_PASSWORD, FV_REQUIRED, 0, 0, PASSWORD_MAX_LEN, NULL},
    };
    enum { F_NEW_PASSWORD };
    struct fv_values v;
    const char *current = raw_string(r, "current_password", PASSWORD_MAX_LEN);
    if (!current) {
        reply_field_error(r, "current_password", "is required");
        return;
    }
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    /* optional: the caller's own refresh token, which the change keeps */
    const char *keep = raw_string(r, "refresh_token", 128);
    const char *uid = id_text(r, r->who.user_id);
    /* the columns of auth_password_lookup */
    enum { U_HASH, U_LOCKED, U_RETRY };
    db_res *u = db_q_or_reply(r, Q(auth_password_lookup)(uid));
    if (!u) return;
    if (db_ntuples(u) != 1) {
        reply_problem(r, 401, "unauthorized", "the user no longer exists");
        return;
    }
    /* a stolen access token must not buy unlimited guesses of the password:
     * wrong current passwords count toward the lockout, as at login */
    if (db_get(u, 0, U_LOCKED)[0] == 't') {
        locked_reply(r, db_get(u, 0, U_RETRY));
        return;
    }
    if (!password_verify(current, db_get(u, 0, U_HASH))) {
        if (count_failure_or_reply(r, uid) == 0)
            reply_field_error(r, "current_password", "is not the current password");
        return;
    }
    char hash[PASSWORD_HASH_LEN];
    if (password_hash(v.text[F_NEW_PASSWORD], hash) < 0) {
        reply_problem(r, 500, "internal", "hashing failed");
        return;
    }
    /* a new password ends every session but the caller's own, when the
     * caller names its refresh token (else that one ends too) */
    if (!db_q_or_reply(r, Q(auth_password_change)(uid, hash, keep ? token_hash_hex(r, keep) : NULL)))
        return;
    reply_no_content(r);
}
