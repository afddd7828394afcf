-- The cron jobs (src/service/cron.c): archive, backfill, sla-check,
-- purge-locations and purge-events, each under an advisory lock.

-- A job's transaction: a second run waits for the first however long it
-- takes (the pool's lock_timeout would fail it), and a big job may exceed
-- the pool's statement_timeout. set_config(..., true) is SET LOCAL.
-- name: cron_set_timeouts
SELECT set_config('lock_timeout', '10min', true),
       set_config('statement_timeout', '10min', true);

-- name: cron_lock
-- $1 the job's advisory lock key
SELECT pg_advisory_xact_lock($1::bigint);

-- name: cron_try_lock
-- $1 the job's advisory lock key
SELECT pg_try_advisory_lock($1::bigint);

-- name: cron_unlock
-- $1 the job's advisory lock key
SELECT pg_advisory_unlock($1::bigint);

-- Terminal orders past the buffer leave the live lists. The status list is
-- order_status_is_terminal() (sql/schema/order_rules.sql) written out: the
-- function (NOT EXISTS over order_rules(), not inlinable) would lose the
-- partial index orders_archive_due_idx, whose predicate and expression this
-- WHERE must match textually. Change both with the rule.
-- name: cron_archive
-- $1 the archive_buffer_hours setting
WITH a AS (UPDATE orders SET is_archived = true, archived_at = now()
 WHERE NOT is_archived AND status IN ('delivered', 'cancelled', 'returned')
 AND coalesce(delivered_at, cancelled_at, returned_at)
  <= now() - make_interval(hours => $1::int) RETURNING 1)
SELECT json_build_object('archived', count(*))::text FROM a;

-- Fills the *_at stamps from the history: only the stamps the current
-- status implies (a requeued order's cleared assigned_at stays cleared).
-- Answers how many were filled.
-- name: cron_backfill_timestamps
WITH h AS (SELECT order_id,
  max(created_at) FILTER (WHERE to_status = 'assigned') AS a,
  max(created_at) FILTER (WHERE to_status = 'picked_up') AS p,
  max(created_at) FILTER (WHERE to_status = 'delivered') AS d,
  max(created_at) FILTER (WHERE to_status = 'failed') AS f,
  max(created_at) FILTER (WHERE to_status = 'cancelled') AS c,
  max(created_at) FILTER (WHERE to_status = 'returned') AS r
  FROM order_status_history GROUP BY order_id),
 c AS (SELECT o.id,
  CASE WHEN o.assigned_at IS NULL AND o.status IN ('assigned', 'picked_up', 'delivered')
   THEN h.a END AS a,
  CASE WHEN o.picked_up_at IS NULL AND o.status IN ('picked_up', 'delivered')
   THEN h.p END AS p,
  CASE WHEN o.delivered_at IS NULL AND o.status = 'delivered' THEN h.d END AS d,
  CASE WHEN o.failed_at IS NULL AND o.status IN ('failed', 'returned') THEN h.f END AS f,
  CASE WHEN o.cancelled_at IS NULL AND o.status = 'cancelled' THEN h.c END AS c,
  CASE WHEN o.returned_at IS NULL AND o.status = 'returned' THEN h.r END AS r
  FROM orders o JOIN h ON h.order_id = o.id),
 u AS (UPDATE orders o SET assigned_at = coalesce(o.assigned_at, c.a),
  picked_up_at = coalesce(o.picked_up_at, c.p),
  delivered_at = coalesce(o.delivered_at, c.d), failed_at = coalesce(o.failed_at, c.f),
  cancelled_at = coalesce(o.cancelled_at, c.c), returned_at = coalesce(o.returned_at, c.r)
  FROM c WHERE o.id = c.id AND num_nonnulls(c.a, c.p, c.d, c.f, c.c, c.r) > 0
  RETURNING num_nonnulls(c.a, c.p, c.d, c.f, c.c, c.r) AS n)
SELECT coalesce(sum(n), 0) FROM u;

-- The customer columns still empty whose customer_info has a candidate:
-- id, then name, phone, address, latitude, longitude (NULL: nothing to
-- fill); the C side normalizes them as the API does.
-- name: cron_backfill_candidates
-- $1 the most orders in one run
SELECT id,
 CASE WHEN customer_name IS NULL THEN nullif(btrim(coalesce(customer_info->>'name',
  customer_info->>'customer_name')), '') END,
 CASE WHEN customer_phone IS NULL THEN coalesce(customer_info->>'phone',
  customer_info->>'customer_phone', customer_info->>'mobile') END,
 CASE WHEN delivery_address IS NULL THEN nullif(btrim(coalesce(customer_info->>'address',
  customer_info->>'delivery_address')), '') END,
 CASE WHEN delivery_latitude IS NULL THEN coalesce(customer_info->>'lat',
  customer_info->>'latitude') END,
 CASE WHEN delivery_longitude IS NULL THEN coalesce(customer_info->>'lng',
  customer_info->>'longitude') END
 FROM orders WHERE customer_info <> '{}' AND (
  (customer_name IS NULL AND (customer_info ? 'name' OR customer_info ? 'customer_name'))
  OR (customer_phone IS NULL AND (customer_info ? 'phone' OR customer_info ? 'customer_phone'
   OR customer_info ? 'mobile'))
  OR (delivery_address IS NULL AND (customer_info ? 'address' OR customer_info ? 'delivery_address'))
  OR (delivery_latitude IS NULL AND (customer_info ? 'lat' OR customer_info ? 'latitude'))
  OR (delivery_longitude IS NULL AND (customer_info ? 'lng' OR customer_info ? 'longitude')))
 ORDER BY id LIMIT $1::int;

-- name: cron_backfill_customer
-- $1 order ids (bigint[])
-- $2 names (text[], NULL: keep)
-- $3 phones, normalized (text[])
-- $4 addresses (text[])
-- $5 latitudes (text[])
-- $6 longitudes (text[])
UPDATE orders o SET customer_name = coalesce(o.customer_name, t.n),
 customer_phone = coalesce(o.customer_phone, t.ph),
 delivery_address = coalesce(o.delivery_address, t.a),
 delivery_latitude = coalesce(o.delivery_latitude, t.lat::float8),
 delivery_longitude = coalesce(o.delivery_longitude, t.lng::float8)
 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
  $5::text[], $6::text[]) AS t(id, n, ph, a, lat, lng)
 WHERE o.id = t.id;

-- Late: open and past the ETA (or created_at + sla_minutes); each late
-- order notifies its warehouse's managers once per deadline
-- (sla_notified_at, which a new ETA clears: migration 0019). Then drivers
-- silent too long go offline and their sessions close: the drivers' rows
-- locked first, then their sessions (the lock order of migration 0019's
-- trigger). "Open" is NOT order_status_is_terminal() (sql/schema/
-- order_rules.sql) written out: the function (not inlinable) would lose the
-- partial index orders_sla_open_idx, whose predicate this must match.
-- name: cron_sla
-- $1 the sla_minutes setting
-- $2 the driver_offline_after_seconds setting
WITH late AS (SELECT id, order_number, warehouse_id, sla_notified_at FROM orders
  WHERE status NOT IN ('delivered', 'cancelled', 'returned') AND NOT is_archived
  AND coalesce(estimated_delivery_time,
   created_at + make_interval(mins => $1::int)) < now()),
 fresh AS (UPDATE orders o SET sla_notified_at = now() FROM late
  WHERE o.id = late.id AND late.sla_notified_at IS NULL RETURNING o.id, o.order_number,
  o.warehouse_id, coalesce(o.estimated_delivery_time,
   o.created_at + make_interval(mins => $1::int)) AS due_at),
 n AS (INSERT INTO notifications (user_id, type, title, body, data, order_id)
  SELECT u.id, 'sla_breach', 'Order ' || f.order_number || ' is late',
   'The order is past its delivery time.', jsonb_build_object('order_id', f.id,
   'due_at', api_ts(f.due_at)), f.id
  FROM fresh f JOIN users u ON u.role = 'manager' AND u.is_active
   AND (u.warehouse_id IS NULL OR u.warehouse_id = f.warehouse_id)
  ON CONFLICT DO NOTHING RETURNING 1),
 quiet AS (SELECT id FROM drivers WHERE is_online
  AND coalesce(last_seen_at, '-infinity') < now() - make_interval(secs => $2::int)
  ORDER BY id FOR NO KEY UPDATE),
 closed AS (UPDATE work_sessions s SET ended_at = greatest(s.started_at,
   coalesce(d.last_seen_at, s.started_at)), end_reason = 'timeout'
  FROM drivers d WHERE d.id = s.driver_id AND s.ended_at IS NULL
  AND d.id IN (SELECT id FROM quiet) RETURNING 1),
 off AS (UPDATE drivers SET is_online = false WHERE id IN (SELECT id FROM quiet))
SELECT json_build_object('late', (SELECT count(*) FROM late),
  'notified', (SELECT count(*) FROM n),
  'sessions_closed', (SELECT count(*) FROM closed))::text;

-- One chunk of the purge, its own transaction: no long locks.
-- name: cron_purge_chunk
-- $1 the location_retention_days setting
-- $2 the chunk's size
WITH d AS (DELETE FROM driver_locations WHERE id IN (
 SELECT id FROM driver_locations WHERE recorded_at <
  now() - make_interval(days => $1::int) LIMIT $2::int)
 RETURNING 1) SELECT count(*) FROM d;

-- One chunk of purge-events, its own transaction: the outbox's events
-- older than event_retention_days (index events_created_at_idx).
-- name: cron_purge_events_chunk
-- $1 the event_retention_days setting
-- $2 the chunk's size
WITH d AS (DELETE FROM events WHERE id IN (
 SELECT id FROM events WHERE created_at <
  now() - make_interval(days => $1::int) LIMIT $2::int)
 RETURNING 1) SELECT count(*) FROM d;

-- Learned coordinates from the history already stored (cron
-- learn-coordinates): each delivered order with a phone, an address_key()
-- and a driver, not yet in customer_places, remembered at the point of its
-- driver's driver_locations nearest its delivered_at, before or after it
-- (two probes of the unique (driver_id, recorded_at) index), when within
-- location_stale_seconds of it. The deliver statement writes the same rows
-- as orders are delivered (src/service/order_actions.c); the unique
-- order_id makes a second run, or one racing it, learn nothing twice.
-- name: cron_learn_coordinates
-- $1 the location_stale_seconds setting
WITH cand AS (SELECT o.id, o.customer_phone, o.driver_id, o.delivered_at,
   address_key(o.area, o.block, o.street, o.avenue, o.building) AS key
  FROM orders o
  WHERE o.status = order_action_to('deliver') AND o.customer_phone IS NOT NULL
   AND o.driver_id IS NOT NULL AND o.delivered_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM customer_places c WHERE c.order_id = o.id)),
 pt AS (SELECT cand.*, l.latitude, l.longitude FROM cand
  CROSS JOIN LATERAL (SELECT x.latitude, x.longitude FROM (
    (SELECT d.latitude, d.longitude, d.recorded_at FROM driver_locations d
      WHERE d.driver_id = cand.driver_id AND d.recorded_at <= cand.delivered_at
      ORDER BY d.recorded_at DESC LIMIT 1)
    UNION ALL
    (SELECT d.latitude, d.longitude, d.recorded_at FROM driver_locations d
      WHERE d.driver_id = cand.driver_id AND d.recorded_at > cand.delivered_at
      ORDER BY d.recorded_at LIMIT 1)) x
   WHERE abs(extract(epoch FROM x.recorded_at - cand.delivered_at)) <= $1::int
   ORDER BY abs(extract(epoch FROM x.recorded_at - cand.delivered_at)) LIMIT 1) l
  WHERE cand.key IS NOT NULL),
 ins AS (INSERT INTO customer_places (phone, address_key, latitude, longitude, order_id,
   driver_id, delivered_at)
  SELECT customer_phone, key, latitude, longitude, id, driver_id, delivered_at FROM pt
  ON CONFLICT (order_id) DO NOTHING RETURNING 1)
SELECT json_build_object('learned', count(*))::text FROM ins;
