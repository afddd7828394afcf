-- Authentication: login and its lockout, refresh tokens (issue, rotate,
-- revoke), password change, and the principal the auth gate loads.
--
-- A refresh token lives until refresh_token_expires_at() (30 days,
-- sql/schema/users.sql); auth_refresh_insert and auth_refresh_rotate write
-- the same row.

-- name: auth_login_lookup
-- $1 the login name: a username or an email (case-insensitive)
-- $2 the login name as a normalized phone number, NULL when it is none
SELECT id, password_hash, role, is_active, coalesce(locked_until > now(), false),
       greatest(1, ceil(extract(epoch FROM locked_until - now())))::int
  FROM users
 WHERE lower(username) = lower($1) OR lower(email) = lower($1)
    OR ($2::text IS NOT NULL AND phone = $2)
 ORDER BY (lower(username) = lower($1)) DESC LIMIT 1;

-- name: auth_count_failure
-- A wrong password: an expired lock starts a new count; reaching the
-- threshold locks for the given minutes.
-- $1 user id
-- $2 the lockout_threshold setting
-- $3 the lockout_minutes setting
WITH c AS (SELECT id, CASE WHEN locked_until IS NOT NULL AND locked_until <= now()
                           THEN 1 ELSE failed_login_count + 1 END AS n
             FROM users WHERE id = $1 FOR UPDATE)
UPDATE users u SET failed_login_count = c.n,
       locked_until = CASE WHEN c.n >= $2::int
                           THEN now() + make_interval(mins => $3::int) ELSE NULL END
  FROM c WHERE u.id = c.id
RETURNING u.locked_until IS NOT NULL,
          greatest(1, ceil(extract(epoch FROM u.locked_until - now())))::int;

-- name: auth_login_succeeded
-- $1 user id
UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = now()
 WHERE id = $1;

-- name: auth_user_body
-- $1 user id
SELECT body::text FROM api_users WHERE id = $1;

-- name: auth_refresh_insert
-- $1 user id
-- $2 the new token's SHA-256 (hex)
-- $3 the User-Agent, NULL when absent or not UTF-8
-- $4 the client's address
INSERT INTO refresh_tokens (user_id, token_hash, expires_at, user_agent, ip)
SELECT $1::bigint, decode($2, 'hex'), refresh_token_expires_at(), left($3, 200), $4;

-- name: auth_refresh_rotate
-- Rotation in one statement: the old token is revoked and its successor
-- stored together (a second request with the same token waits for the row
-- lock, then finds it revoked).
-- $1 the presented token's SHA-256 (hex)
-- $2 the new token's SHA-256 (hex)
-- $3 the User-Agent, NULL when absent or not UTF-8
-- $4 the client's address
WITH old AS (UPDATE refresh_tokens t SET revoked_at = now() FROM users u
              WHERE t.token_hash = decode($1, 'hex') AND t.revoked_at IS NULL
                AND t.expires_at > now() AND u.id = t.user_id AND u.is_active
          RETURNING t.user_id, u.role),
     new AS (INSERT INTO refresh_tokens (user_id, token_hash, expires_at, user_agent, ip)
             SELECT old.user_id, decode($2, 'hex'), refresh_token_expires_at(), left($3, 200), $4
               FROM old)
SELECT user_id, role FROM old;

-- name: auth_refresh_reused
-- A revoked token presented again: every live token of its user is revoked.
-- $1 the presented token's SHA-256 (hex)
UPDATE refresh_tokens SET revoked_at = now()
 WHERE revoked_at IS NULL AND user_id =
       (SELECT user_id FROM refresh_tokens
         WHERE token_hash = decode($1, 'hex') AND revoked_at IS NOT NULL);

-- name: auth_logout
-- $1 the token's SHA-256 (hex)
UPDATE refresh_tokens SET revoked_at = now()
 WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL;

-- name: auth_password_lookup
-- $1 user id
SELECT password_hash, coalesce(locked_until > now(), false),
       greatest(1, ceil(extract(epoch FROM locked_until - now())))::int
  FROM users WHERE id = $1;

-- name: auth_password_change
-- A new password ends every session but the caller's own, when named.
-- $1 user id
-- $2 the new password's hash
-- $3 the SHA-256 (hex) of the refresh token to keep, NULL: none
WITH u AS (UPDATE users SET password_hash = $2, password_changed_at = now(),
                  failed_login_count = 0
            WHERE id = $1 RETURNING id)
UPDATE refresh_tokens SET revoked_at = now()
 WHERE user_id = (SELECT id FROM u) AND revoked_at IS NULL
   AND ($3::text IS NULL OR token_hash <> decode($3, 'hex'));

-- name: principal_load
-- plan: prepared
-- The auth gate's view of a user (http/principal.c, cached briefly).
-- $1 user id
SELECT u.role, u.is_active AND coalesce(d.is_active, true),
       coalesce(u.warehouse_id, 0), coalesce(d.id, 0), u.body::text
  FROM api_users u LEFT JOIN drivers d ON d.user_id = u.id
 WHERE u.id = $1;
