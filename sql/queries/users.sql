-- Users (api/users.c, cli/create_user.c). The column lists of create and
-- patch vary with the body and are built in C (struct sqlb).

-- name: user_get
-- $1 user id
SELECT body FROM api_users WHERE id = $1;

-- name: user_deactivate
-- (a deactivation revokes the refresh tokens in the database, migration 0020)
-- $1 user id
WITH u AS (UPDATE users SET is_active = false WHERE id = $1 RETURNING id)
SELECT id FROM u;

-- name: user_unlock
-- $1 user id
WITH u AS (UPDATE users SET failed_login_count = 0, locked_until = NULL WHERE id = $1 RETURNING id)
SELECT id FROM u;

-- name: user_create_cli
-- deliveryd create-user
-- $1 username
-- $2 password hash
-- $3 full name
-- $4 role
INSERT INTO users (username, password_hash, full_name, role)
VALUES ($1, $2, $3, $4) RETURNING id;
