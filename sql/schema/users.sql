-- Users: the public JSON, the updated_at trigger, and the consequences of a
-- deactivation or a role change that every route (and the command line)
-- must get, so they live next to the data. Repeatable file: see common.sql.

CREATE OR REPLACE TRIGGER users_set_updated_at BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A driver profile is active only while its user is active AND still a
-- driver. DELETE /users/{id} and PATCH /users/{id} {"is_active"} set only
-- the user, and changing a driver's role (PATCH /users/{id}
-- {"role":"manager"}) left an active profile that could be assigned orders
-- nobody could deliver; drivers.is_active is what assignment, suggestions
-- and the map read.
CREATE OR REPLACE FUNCTION driver_follows_user_active() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE drivers SET is_active = (NEW.is_active AND NEW.role = 'driver')
   WHERE user_id = NEW.id AND is_active IS DISTINCT FROM (NEW.is_active AND NEW.role = 'driver');
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER users_is_active_to_driver
  AFTER UPDATE OF is_active, role ON users
  FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active
                     OR OLD.role IS DISTINCT FROM NEW.role)
  EXECUTE FUNCTION driver_follows_user_active();

-- A user made inactive loses every refresh token, whichever route (or the
-- command line) deactivates them: DELETE /users, PATCH /users and
-- PATCH /drivers each revoked them in their own SQL, and PATCH /drivers
-- once forgot to, so a reactivation revived the old sessions.
CREATE OR REPLACE FUNCTION user_deactivation_ends_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE refresh_tokens SET revoked_at = now()
   WHERE user_id = NEW.id AND revoked_at IS NULL;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER users_deactivation_ends_sessions
  AFTER UPDATE OF is_active ON users
  FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
  EXECUTE FUNCTION user_deactivation_ends_sessions();

-- Dropped and created, not replaced: u.* (see warehouses.sql). The body
-- leaves out password_hash and the lockout counters on purpose.
DROP VIEW IF EXISTS api_users;
CREATE VIEW api_users AS
SELECT u.*,
       json_build_object(
         'id',            u.id,
         'username',      u.username,
         'full_name',     u.full_name,
         'role',          u.role,
         'warehouse_id',  u.warehouse_id,
         'phone',         u.phone,
         'email',         u.email,
         'is_active',     u.is_active,
         'locked_until',  api_ts(u.locked_until),
         'last_login_at', api_ts(u.last_login_at),
         'created_at',    api_ts(u.created_at)
       ) AS body
FROM users u;

-- When a refresh token issued now expires: 30 days. The one place the
-- lifetime is said (login and rotation, sql/queries/auth.sql).
CREATE OR REPLACE FUNCTION refresh_token_expires_at() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT now() + interval '30 days' $$;
