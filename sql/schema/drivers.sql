-- Drivers: the public JSON, the updated_at trigger and what a deactivation
-- does to a driver. Repeatable file: see common.sql.

-- Location ingest rewrites last_*/last_seen_at every few seconds per driver;
-- updated_at means "the profile changed", so only profile columns count.
-- A new profile column must be added to this list.
CREATE OR REPLACE TRIGGER drivers_set_updated_at BEFORE UPDATE ON drivers
  FOR EACH ROW
  WHEN ((OLD.user_id, OLD.code, OLD.phone, OLD.vehicle_type, OLD.warehouse_id, OLD.is_active)
        IS DISTINCT FROM
        (NEW.user_id, NEW.code, NEW.phone, NEW.vehicle_type, NEW.warehouse_id, NEW.is_active))
  EXECUTE FUNCTION set_updated_at();

-- A driver made inactive goes offline at once: the open work session
-- ends ('deactivated') and is_online turns false. Before, a deactivated
-- driver stayed online (in GET /drivers?is_online=true, with an open
-- session) until sla-check's silence timeout.
CREATE OR REPLACE FUNCTION driver_offline_when_inactive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE work_sessions SET ended_at = greatest(started_at, now()), end_reason = 'deactivated'
   WHERE driver_id = NEW.id AND ended_at IS NULL;
  NEW.is_online := false;
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER drivers_inactive_goes_offline
  BEFORE UPDATE OF is_active ON drivers
  FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
  EXECUTE FUNCTION driver_offline_when_inactive();

-- Dropped and created, not replaced: d.* (see warehouses.sql).
DROP VIEW IF EXISTS api_drivers;
CREATE VIEW api_drivers AS
SELECT d.*,
       u.full_name,
       json_build_object(
         'id',           d.id,
         'user_id',      d.user_id,
         'code',         d.code,
         'full_name',    u.full_name,
         -- The profile phone, else the login phone: either may have been
         -- the one given.
         'phone',        coalesce(d.phone, u.phone),
         'vehicle_type', d.vehicle_type,
         'warehouse_id', d.warehouse_id,
         'is_active',    d.is_active,
         'is_online',    d.is_online,
         'last_location',
           CASE WHEN d.last_recorded_at IS NOT NULL THEN
             json_build_object('latitude',    d.last_latitude,
                               'longitude',   d.last_longitude,
                               'recorded_at', api_ts(d.last_recorded_at))
           END
       ) AS body
FROM drivers d
JOIN users u ON u.id = d.user_id;
