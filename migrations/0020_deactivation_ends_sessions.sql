-- A user made inactive loses every refresh token, whichever route (or the
-- command line) deactivates them: DELETE /users, PATCH /users and
-- PATCH /drivers each revoked them in their own SQL, and PATCH /drivers
-- once forgot to, so a reactivation revived the old sessions. Next to the
-- other consequences of a deactivation (migrations 0015 and 0019).
CREATE FUNCTION user_deactivation_ends_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE refresh_tokens SET revoked_at = now()
   WHERE user_id = NEW.id AND revoked_at IS NULL;
  RETURN NULL;
END $$;

CREATE TRIGGER users_deactivation_ends_sessions
  AFTER UPDATE OF is_active ON users
  FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
  EXECUTE FUNCTION user_deactivation_ends_sessions();
