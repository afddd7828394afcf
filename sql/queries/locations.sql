-- Drivers in the field (src/api/locations.c): GPS ingest, the live map and
-- a driver's trail. "Active" orders are order_status_is_active()
-- (sql/schema/order_rules.sql).

-- One statement: check times, drop repeats, insert, move the driver's
-- newest point forward only if a newer one arrived.
-- name: location_store
-- plan: prepared
-- $1 driver id
-- $2 the points' indexes in the request (an int[] literal)
-- $3 latitudes (float8[])
-- $4 longitudes (float8[])
-- $5 accuracies (real[], NULL elements allowed)
-- $6 speeds (real[])
-- $7 headings (real[])
-- $8 recorded_at times (text[]; NULL: now)
-- $9 the location_retention_days setting
WITH pts AS (SELECT t.idx, t.lat, t.lng, t.acc, t.spd, t.hdg,
   coalesce(t.rec::timestamptz, now()) AS rec
  FROM unnest($2::int[], $3::float8[], $4::float8[], $5::real[], $6::real[],
   $7::real[], $8::text[]) AS t(idx, lat, lng, acc, spd, hdg, rec)),
 chk AS (SELECT *, CASE
   WHEN rec > now() + interval '5 minutes' THEN 'recorded_at is more than 5 minutes in the future'
   WHEN rec < now() - make_interval(days => $9::int) THEN 'recorded_at is older than the retention period'
  END AS err FROM pts),
 ok AS (SELECT DISTINCT ON (rec) * FROM chk WHERE err IS NULL ORDER BY rec, idx),
 ins AS (INSERT INTO driver_locations (driver_id, latitude, longitude, accuracy, speed,
   heading, recorded_at) SELECT $1::bigint, lat, lng, acc, spd, hdg, rec FROM ok
  ON CONFLICT (driver_id, recorded_at) DO NOTHING
  RETURNING recorded_at, latitude, longitude),
 newest AS (SELECT * FROM ins ORDER BY recorded_at DESC LIMIT 1),
 upd AS (UPDATE drivers d SET last_seen_at = now(),
   last_latitude = CASE WHEN n.recorded_at > coalesce(d.last_recorded_at, '-infinity')
    THEN n.latitude ELSE d.last_latitude END,
   last_longitude = CASE WHEN n.recorded_at > coalesce(d.last_recorded_at, '-infinity')
    THEN n.longitude ELSE d.last_longitude END,
   last_recorded_at = CASE WHEN n.recorded_at > coalesce(d.last_recorded_at, '-infinity')
    THEN n.recorded_at ELSE d.last_recorded_at END
  FROM (SELECT 1) one LEFT JOIN newest n ON true WHERE d.id = $1::bigint RETURNING 1)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM chk WHERE err IS NULL),
  (SELECT coalesce(json_agg(json_build_object('index', idx, 'message', err) ORDER BY idx),
   '[]'::json) FROM chk WHERE err IS NOT NULL), (SELECT count(*) FROM upd);

-- The live map: every active driver with their newest position and their
-- count of active orders (orders_active_driver_idx).
-- name: location_map
-- plan: prepared
-- $1 scope: the caller's warehouse when a scoped manager, else NULL
-- $2 the location_stale_seconds setting
-- $3 the driver_offline_after_seconds setting
SELECT coalesce(json_agg(json_build_object('driver_id', d.id, 'code', d.code,
  'full_name', u.full_name, 'latitude', d.last_latitude, 'longitude', d.last_longitude,
  'recorded_at', api_ts(d.last_recorded_at),
  'is_online', d.is_online AND coalesce(d.last_seen_at > now()
   - make_interval(secs => $3::int), false),
  'stale', d.last_recorded_at IS NULL OR d.last_recorded_at < now()
   - make_interval(secs => $2::int),
  'active_orders', coalesce(a.n, 0)) ORDER BY d.code), '[]'::json)
  FROM drivers d JOIN users u ON u.id = d.user_id
  LEFT JOIN (SELECT driver_id, count(*) AS n FROM orders
  WHERE order_status_is_active(status) AND driver_id IS NOT NULL
  GROUP BY driver_id) a ON a.driver_id = d.id
 WHERE d.is_active AND ($1::bigint IS NULL OR d.warehouse_id = $1);

-- The newest $5 points in [$3, $4), answered oldest first; NULL when the
-- driver is not visible.
-- name: location_trail
-- replica: ok
-- $1 driver id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 from (RFC 3339 text), or NULL
-- $4 to (RFC 3339 text), or NULL
-- $5 the most points to answer
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM drivers WHERE id = $1
  AND ($2::bigint IS NULL OR warehouse_id = $2)) THEN NULL ELSE
 (SELECT coalesce(json_agg(json_build_object('latitude', latitude, 'longitude', longitude,
  'accuracy', accuracy, 'speed', speed, 'heading', heading,
  'recorded_at', api_ts(recorded_at), 'received_at', api_ts(received_at))
  ORDER BY recorded_at), '[]'::json)
  FROM (SELECT * FROM driver_locations WHERE driver_id = $1
   AND ($3::text IS NULL OR recorded_at >= (SELECT query_time($3)))
   AND ($4::text IS NULL OR recorded_at < (SELECT query_time($4)))
   ORDER BY recorded_at DESC LIMIT $5::int) t) END;
