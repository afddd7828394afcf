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

#define REFRESH_TTL_DAYS "30"

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

/* Issues an access token + a new refresh token for user_id and replies
 * with the login body. The refresh row is inserted by `insert_sql`'s
 * caller already; here we only render. */
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

/* The columns and values of a new refresh token row, for the user `uid_sql`
 * (an SQL expression), with $2 the token's hash, $3 the User-Agent and $4
 * the client's address: one definition for login and rotation. */
#define REFRESH_INSERT(uid_sql, from)                                                         \
    "INSERT INTO refresh_tokens (user_id, token_hash, expires_at, user_agent, ip)"          \
    " SELECT " uid_sql ", decode($2, 'hex'), now() + interval '" REFRESH_TTL_DAYS " days',"   \
    " left($3, 200), $4" from

/* $2..$4 of REFRESH_INSERT for a new random token. */
static void refresh_params(struct req *r, char token[48], const char **p)
{
    random_token(token);
    /* kept for the user's list of sessions; bytes that are not UTF-8
     * cannot be stored as text, and are no reason to refuse a login */
    const char *ua = req_header(r, "User-Agent");
    p[1] = token_hash_hex(r, token);
    p[2] = utf8_valid(ua) ? ua : NULL;
    p[3] = r->client_ip;
}

static int new_refresh_token(struct req *r, const char *uid, char token[48])
{
    const char *p[4] = {uid};
    refresh_params(r, token, p);
    return db_query_or_reply(r, REFRESH_INSERT("$1::bigint", ""), 4, p) ? 0 : -1;
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
    const char *p[] = {uid, setting_text(r, "lockout_threshold", 5),
                       setting_text(r, "lockout_minutes", 15)};
    db_res *f = db_query_or_reply(
        r,
        "WITH c AS (SELECT id, CASE WHEN locked_until IS NOT NULL AND locked_until <= now()"
        "  THEN 1 ELSE failed_login_count + 1 END AS n FROM users WHERE id = $1 FOR UPDATE)"
        " UPDATE users u SET failed_login_count = c.n,"
        "  locked_until = CASE WHEN c.n >= $2::int"
        "   THEN now() + make_interval(mins => $3::int) ELSE NULL END"
        " FROM c WHERE u.id = c.id"
        " RETURNING u.locked_until IS NOT NULL,"
        "  greatest(1, ceil(extract(epoch FROM u.locked_until - now())))::int",
        3, p);
    if (!f) return -1;
    if (db_ntuples(f) == 1 && db_get(f, 0, 0)[0] == 't') {
        locked_reply(r, db_get(f, 0, 1));
        return -1;
    }
    return 0;
}

void api_auth_login(struct req *r)
{
    static const struct fv_field f[] = {
        {"username", FV_STRING, FV_REQUIRED | FV_NONBLANK, 0, 0, 254, NULL},
    };
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    const char *password = raw_string(r, "password", PASSWORD_MAX_LEN);
    if (!password) {
        reply_field_error(r, "password", "is required");
        return;
    }
    char phone[24];
    const char *phone_p = phone_normalize(v.text[0], phone, sizeof phone) == 0 ? phone : NULL;
    const char *p1[] = {v.text[0], phone_p};
    db_res *u = db_query_or_reply(
        r,
        "SELECT id, password_hash, role, is_active, coalesce(locked_until > now(), false),"
        " greatest(1, ceil(extract(epoch FROM locked_until - now())))::int"
        " FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1)"
        " OR ($2::text IS NOT NULL AND phone = $2)"
        " ORDER BY (lower(username) = lower($1)) DESC LIMIT 1",
        2, p1);
    if (!u) return;
    if (db_ntuples(u) == 0) {
        (void)password_verify(password, NULL); /* same work as a known user */
        reply_problem(r, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    const char *uid = db_get(u, 0, 0);
    bool ok = password_verify(password, db_get(u, 0, 1));
    if (db_get(u, 0, 4)[0] == 't') {
        locked_reply(r, db_get(u, 0, 5));
        return;
    }
    if (!ok) {
        if (count_failure_or_reply(r, uid) == 0)
            reply_problem(r, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    if (db_get(u, 0, 3)[0] != 't') {
        reply_problem(r, 403, "account_disabled", "the account is deactivated");
        return;
    }
    const char *p3[] = {uid};
    if (!db_query_or_reply(r,
                           "UPDATE users SET failed_login_count = 0, locked_until = NULL,"
                           " last_login_at = now() WHERE id = $1",
                           1, p3))
        return;
    principal_invalidate(atoll(uid)); /* last_login_at changed */
    char refresh[48];
    if (new_refresh_token(r, uid, refresh) < 0) return;
    db_res *b = db_query_or_reply(r, "SELECT body::text FROM api_users WHERE id = $1", 1, p3);
    if (!b || db_ntuples(b) != 1) {
        if (b) reply_problem(r, 500, "internal", "user vanished during login");
        return;
    }
    reply_tokens(r, atoll(uid), db_get(u, 0, 2), refresh, db_get(b, 0, 0));
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
    const char *p[4] = {hash};
    refresh_params(r, refresh, p);
    /* Rotation in one statement: the old token is revoked and its successor
     * stored together. A second request with the same token waits for the
     * first's row lock, then finds it revoked and takes the reuse branch
     * below, which therefore always sees (and revokes) the successor: two
     * separate statements let it run between them, leaving a thief who
     * won the race a live session, or a legitimate client a token that
     * was revoked behind its back. */
    db_res *old = db_query_or_reply(
        r,
        "WITH old AS (UPDATE refresh_tokens t SET revoked_at = now() FROM users u"
        "  WHERE t.token_hash = decode($1, 'hex') AND t.revoked_at IS NULL"
        "  AND t.expires_at > now() AND u.id = t.user_id AND u.is_active"
        "  RETURNING t.user_id, u.role),"
        " new AS (" REFRESH_INSERT("old.user_id", " FROM old") ")"
        " SELECT user_id, role FROM old",
        4, p);
    if (!old) return;
    if (db_ntuples(old) == 0) {
        /* A revoked token presented again: someone holds a stolen copy.
         * Revoke every refresh token of that user. */
        if (!db_query_or_reply(r,
                               "UPDATE refresh_tokens SET revoked_at = now()"
                               " WHERE revoked_at IS NULL AND user_id ="
                               " (SELECT user_id FROM refresh_tokens"
                               "  WHERE token_hash = decode($1, 'hex') AND revoked_at IS NOT NULL)",
                               1, p))
            return;
        reply_problem(r, 401, "unauthorized", "the refresh token is invalid or was already used");
        return;
    }
    const char *uid = db_get(old, 0, 0);
    const char *p2[] = {uid};
    db_res *b = db_query_or_reply(r, "SELECT body::text FROM api_users WHERE id = $1", 1, p2);
    if (!b || db_ntuples(b) != 1) {
        if (b) reply_problem(r, 401, "unauthorized", "the user no longer exists");
        return;
    }
    reply_tokens(r, atoll(uid), db_get(old, 0, 1), refresh, db_get(b, 0, 0));
}

void api_auth_logout(struct req *r)
{
    const char *token = raw_string(r, "refresh_token", 128);
    if (!token) {
        reply_field_error(r, "refresh_token", "is required");
        return;
    }
    const char *p[] = {token_hash_hex(r, token)};
    if (!db_query_or_reply(r,
                           "UPDATE refresh_tokens SET revoked_at = now()"
                           " WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL",
                           1, p))
        return;
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
    const char *p[] = {id_text(r, r->who.user_id)};
    db_res *b = db_query_or_reply(r, "SELECT body::text FROM api_users WHERE id = $1", 1, p);
    if (b) reply_row_json(r, 200, b);
}

void api_auth_password(struct req *r)
{
    static const struct fv_field f[] = {
        {"new_password", FV_PASSWORD, FV_REQUIRED, 0, 0, PASSWORD_MAX_LEN, NULL},
    };
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
    const char *p[] = {uid};
    db_res *u = db_query_or_reply(
        r,
        "SELECT password_hash, coalesce(locked_until > now(), false),"
        " greatest(1, ceil(extract(epoch FROM locked_until - now())))::int"
        " FROM users WHERE id = $1",
        1, p);
    if (!u) return;
    if (db_ntuples(u) != 1) {
        reply_problem(r, 401, "unauthorized", "the user no longer exists");
        return;
    }
    /* a stolen access token must not buy unlimited guesses of the password:
     * wrong current passwords count toward the lockout, as at login */
    if (db_get(u, 0, 1)[0] == 't') {
        locked_reply(r, db_get(u, 0, 2));
        return;
    }
    if (!password_verify(current, db_get(u, 0, 0))) {
        if (count_failure_or_reply(r, uid) == 0)
            reply_field_error(r, "current_password", "is not the current password");
        return;
    }
    char hash[PASSWORD_HASH_LEN];
    if (password_hash(v.text[0], hash) < 0) {
        reply_problem(r, 500, "internal", "hashing failed");
        return;
    }
    const char *p2[] = {uid, hash, keep ? token_hash_hex(r, keep) : NULL};
    /* a new password ends every session but the caller's own, when the
     * caller names its refresh token (else that one ends too) */
    if (!db_query_or_reply(r,
                           "WITH u AS (UPDATE users SET password_hash = $2,"
                           " password_changed_at = now(), failed_login_count = 0"
                           " WHERE id = $1 RETURNING id)"
                           " UPDATE refresh_tokens SET revoked_at = now()"
                           " WHERE user_id = (SELECT id FROM u) AND revoked_at IS NULL"
                           " AND ($3::text IS NULL OR token_hash <> decode($3, 'hex'))",
                           3, p2))
        return;
    reply_no_content(r);
}
