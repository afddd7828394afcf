-- Three rules that every route (and the command line) must keep, so they
-- live next to the data.

-- 1. A driver profile is active only while its user is active AND still a
--    driver. Changing a driver's role (PATCH /users/{id} {"role":"manager"})
--    left an active profile that could be assigned orders nobody could
--    deliver, and that stayed on the map and in suggestions.
CREATE OR REPLACE FUNCTION driver_follows_user_active() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE drivers SET is_active = (NEW.is_active AND NEW.role = 'driver')
   WHERE user_id = NEW.id AND is_active IS DISTINCT FROM (NEW.is_active AND NEW.role = 'driver');
  RETURN NULL;
END $$;

DROP TRIGGER users_is_active_to_driver ON users;
CREATE TRIGGER users_is_active_to_driver
  AFTER UPDATE OF is_active, role ON users
  FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active
                     OR OLD.role IS DISTINCT FROM NEW.role)
  EXECUTE FUNCTION driver_follows_user_active();

UPDATE drivers d SET is_active = false
  FROM users u
 WHERE u.id = d.user_id AND u.role <> 'driver' AND d.is_active;

-- 2. A driver made inactive goes offline at once: the open work session
--    ends ('deactivated') and is_online turns false. Before, a deactivated
--    driver stayed online (in GET /drivers?is_online=true, with an open
--    session) until sla-check's silence timeout.
CREATE FUNCTION driver_offline_when_inactive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE work_sessions SET ended_at = greatest(started_at, now()), end_reason = 'deactivated'
   WHERE driver_id = NEW.id AND ended_at IS NULL;
  NEW.is_online := false;
  RETURN NEW;
END $$;

CREATE TRIGGER drivers_inactive_goes_offline
  BEFORE UPDATE OF is_active ON drivers
  FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
  EXECUTE FUNCTION driver_offline_when_inactive();

UPDATE work_sessions s SET ended_at = greatest(s.started_at, now()), end_reason = 'deactivated'
  FROM drivers d
 WHERE d.id = s.driver_id AND s.ended_at IS NULL AND NOT d.is_active;
UPDATE drivers SET is_online = false WHERE is_online AND NOT is_active;

-- 3. A late order is reported again after its delivery time moves: a new
--    estimated_delivery_time clears sla_notified_at, and the one-breach
--    notification per manager and order becomes one per manager, order and
--    deadline (sla-check puts the deadline that passed in data.due_at).
CREATE FUNCTION order_eta_resets_sla() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.sla_notified_at := NULL;
  RETURN NEW;
END $$;

CREATE TRIGGER orders_eta_resets_sla
  BEFORE UPDATE OF estimated_delivery_time ON orders
  FOR EACH ROW WHEN (OLD.estimated_delivery_time IS DISTINCT FROM NEW.estimated_delivery_time
                     AND OLD.sla_notified_at IS NOT NULL)
  EXECUTE FUNCTION order_eta_resets_sla();

DROP INDEX notifications_sla_breach_once;
CREATE UNIQUE INDEX notifications_sla_breach_once
  ON notifications (user_id, order_id, (data ->> 'due_at')) WHERE type = 'sla_breach';
