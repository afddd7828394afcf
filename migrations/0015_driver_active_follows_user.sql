-- A driver's profile is active exactly when their user is. PATCH /drivers/{id}
-- set both, but DELETE /users/{id} and PATCH /users/{id} {"is_active"} set
-- only the user, so a driver "removed" from the users screen could still be
-- assigned, suggested and shown on the map (all of which read
-- drivers.is_active). One trigger keeps the two flags together whichever
-- route (or the command line) changes the user.
CREATE FUNCTION driver_follows_user_active() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE drivers SET is_active = NEW.is_active
   WHERE user_id = NEW.id AND is_active IS DISTINCT FROM NEW.is_active;
  RETURN NULL;
END $$;

CREATE TRIGGER users_is_active_to_driver
  AFTER UPDATE OF is_active ON users
  FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active)
  EXECUTE FUNCTION driver_follows_user_active();

-- the profiles this has already left behind
UPDATE drivers d SET is_active = false
  FROM users u
 WHERE u.id = d.user_id AND NOT u.is_active AND d.is_active;
