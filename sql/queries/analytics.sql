-- Analytics (src/api/analytics.c) and driver suggestions for an order.
--
-- The three analytics statements take $1 from, $2 to (dates, NULL = today),
-- $3 scope; their days are analytics_range() (sql/schema/order_stats.sql: cut
-- in business_timezone(), with sla_minutes). The visible orders created in [rng.a, rng.b) are read as
-- one range scan of the (warehouse_id, created_at) index per warehouse ($3
-- = a scoped manager's). No index on created_at alone covers archived
-- orders, and a day is a few thousand rows of a million; but rng's bounds
-- are unknown when planning, so a plain join is planned as a scan of every
-- order. OFFSET 0 keeps the subquery per warehouse (not flattened back into
-- that join).

-- name: analytics_summary
-- replica: ok
-- $1 from (a date), or NULL for today
-- $2 to (a date), or NULL for today
-- $3 scope: the caller's warehouse when a scoped manager, else NULL
WITH rng AS (SELECT * FROM analytics_range($1::date, $2::date)),
 o AS (SELECT o.status, o.assigned_at, o.picked_up_at, o.failure_reason_code,
  extract(epoch FROM o.delivered_at - o.picked_up_at) AS secs,
  o.delivered_at <= coalesce(o.estimated_delivery_time,
   o.created_at + make_interval(mins => rng.sla)) AS on_time
  FROM rng CROSS JOIN warehouses w CROSS JOIN LATERAL (SELECT * FROM orders o
  WHERE o.warehouse_id = w.id AND o.created_at >= rng.a AND o.created_at < rng.b
  OFFSET 0) o WHERE ($3::bigint IS NULL OR w.id = $3))
SELECT json_build_object('from', (SELECT f FROM rng), 'to', (SELECT t FROM rng),
 'orders_total', count(*),
 'by_status', (SELECT coalesce(json_object_agg(status, n), '{}'::json)
  FROM (SELECT status, count(*) AS n FROM o GROUP BY status) x),
 'delivered', count(*) FILTER (WHERE status = 'delivered'),
 'failed', count(*) FILTER (WHERE status = 'failed'),
 'cancelled', count(*) FILTER (WHERE status = 'cancelled'),
 'on_time_rate', round((count(*) FILTER (WHERE status = 'delivered' AND on_time))::numeric
  / nullif(count(*) FILTER (WHERE status = 'delivered'), 0), 4),
 'avg_delivery_seconds', round(avg(secs) FILTER (WHERE status = 'delivered')),
 'p50_delivery_seconds', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY secs)
  FILTER (WHERE status = 'delivered' AND secs IS NOT NULL)),
 'p90_delivery_seconds', round(percentile_cont(0.9) WITHIN GROUP (ORDER BY secs)
  FILTER (WHERE status = 'delivered' AND secs IS NOT NULL)),
 'avg_assign_to_pickup_seconds', round(avg(extract(epoch FROM picked_up_at - assigned_at))
  FILTER (WHERE picked_up_at IS NOT NULL AND assigned_at IS NOT NULL)),
 'failure_reasons', (SELECT coalesce(json_agg(json_build_object('code', c, 'count', n)
  ORDER BY n DESC, c), '[]'::json) FROM (SELECT coalesce(failure_reason_code, 'unspecified')
  AS c, count(*) AS n FROM o WHERE status = 'failed' GROUP BY 1) x)) FROM o;

-- name: analytics_drivers
-- replica: ok
-- $1 from (a date), or NULL for today
-- $2 to (a date), or NULL for today
-- $3 scope: the caller's warehouse when a scoped manager, else NULL
WITH rng AS (SELECT * FROM analytics_range($1::date, $2::date)),
 o AS (SELECT o.driver_id, o.status, extract(epoch FROM o.delivered_at - o.picked_up_at)
  AS secs, o.delivered_at <= coalesce(o.estimated_delivery_time,
   o.created_at + make_interval(mins => rng.sla)) AS on_time
  FROM rng CROSS JOIN warehouses w CROSS JOIN LATERAL (SELECT * FROM orders o
  WHERE o.warehouse_id = w.id AND o.created_at >= rng.a AND o.created_at < rng.b
  OFFSET 0) o WHERE ($3::bigint IS NULL OR w.id = $3) AND o.driver_id IS NOT NULL),
 a AS (SELECT driver_id, count(*) FILTER (WHERE status = 'delivered') AS delivered,
  count(*) FILTER (WHERE status = 'failed') AS failed,
  round(avg(secs) FILTER (WHERE status = 'delivered')) AS avg_secs,
  round((count(*) FILTER (WHERE status = 'delivered' AND on_time))::numeric
   / nullif(count(*) FILTER (WHERE status = 'delivered'), 0), 4) AS on_time_rate
  FROM o GROUP BY driver_id),
 w AS (SELECT s.driver_id, sum(extract(epoch FROM least(coalesce(s.ended_at, now()), rng.b)
  - greatest(s.started_at, rng.a))) AS secs FROM work_sessions s, rng
  WHERE s.started_at < rng.b AND coalesce(s.ended_at, now()) > rng.a GROUP BY s.driver_id),
 c AS (SELECT driver_id, sum(amount) AS unpaid FROM payment_collections
  WHERE status = 'unpaid' AND method = 'cash' GROUP BY driver_id)
SELECT coalesce(json_agg(json_build_object('driver_id', d.id, 'code', d.code,
  'full_name', u.full_name,
  'delivered', coalesce(a.delivered, 0), 'failed', coalesce(a.failed, 0),
  'avg_delivery_seconds', a.avg_secs, 'on_time_rate', a.on_time_rate,
  'online_seconds', coalesce(round(w.secs), 0),
  'cash_unpaid', coalesce(c.unpaid, 0)::numeric(12,3)::text) ORDER BY d.code), '[]'::json)
  FROM drivers d JOIN users u ON u.id = d.user_id LEFT JOIN a ON a.driver_id = d.id
  LEFT JOIN w ON w.driver_id = d.id LEFT JOIN c ON c.driver_id = d.id
 WHERE d.is_active AND ($3::bigint IS NULL OR d.warehouse_id = $3);

-- name: analytics_suggestions
-- replica: ok
-- $1 from (a date), or NULL for today
-- $2 to (a date), or NULL for today
-- $3 scope: the caller's warehouse when a scoped manager, else NULL
WITH rng AS (SELECT * FROM analytics_range($1::date, $2::date))
SELECT json_build_object('decisions', count(*),
 'accepted_top', count(*) FILTER (WHERE sd.chosen_rank = 1),
 'accepted_any', count(*) FILTER (WHERE sd.chosen_rank IS NOT NULL),
 'acceptance_rate', round((count(*) FILTER (WHERE sd.chosen_rank IS NOT NULL))::numeric
  / nullif(count(*), 0), 4))
  FROM suggestion_decisions sd JOIN orders o ON o.id = sd.order_id, rng
 WHERE sd.created_at >= rng.a AND sd.created_at < rng.b
 AND ($3::bigint IS NULL OR o.warehouse_id = $3);

-- Every active driver is a candidate; online drivers with a fresh position
-- rank first, then by a weighted score of distance and load. The list shown
-- is remembered (order_suggestions) so the assignment that follows records
-- a decision. Columns: the answer (NULL: no visible order), the order's
-- status, whether assign takes it (order_action_from('assign')).
-- name: suggestions_for_order
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 weight of distance
-- $4 weight of load
-- $5 weight of being online
-- $6 the location_stale_seconds setting
-- $7 the driver_offline_after_seconds setting
-- $8 how many drivers to suggest
WITH o AS (SELECT o.id, o.status, coalesce(o.delivery_latitude, w.latitude) AS lat,
  coalesce(o.delivery_longitude, w.longitude) AS lng FROM orders o
  JOIN warehouses w ON w.id = o.warehouse_id
  WHERE o.id = $1 AND ($2::bigint IS NULL OR o.warehouse_id = $2)),
 c AS (SELECT d.id, u.full_name,
  d.is_online AND coalesce(d.last_seen_at > now() - make_interval(secs => $7::int), false)
   AND coalesce(d.last_recorded_at > now() - make_interval(secs => $6::int), false) AS live,
  CASE WHEN d.last_latitude IS NOT NULL AND o.lat IS NOT NULL THEN
   6371 * 2 * asin(sqrt(power(sin(radians(o.lat - d.last_latitude) / 2), 2)
   + cos(radians(d.last_latitude)) * cos(radians(o.lat))
   * power(sin(radians(o.lng - d.last_longitude) / 2), 2))) END AS km,
  (SELECT count(*) FROM orders a WHERE a.driver_id = d.id
   AND order_status_is_active(a.status)) AS active
  FROM drivers d JOIN users u ON u.id = d.user_id, o WHERE d.is_active
  AND o.status = ANY (order_action_from('assign'))
  AND ($2::bigint IS NULL OR d.warehouse_id = $2)),
 sc AS (SELECT c.*, round((coalesce($3::float8 / (1 + c.km), 0)
  + $4::float8 / (1 + c.active) + CASE WHEN c.live THEN $5::float8 ELSE 0 END)::numeric, 4)
  AS score FROM c),
 top AS (SELECT * FROM sc ORDER BY live DESC, score DESC, id LIMIT $8::int),
 mem AS (INSERT INTO order_suggestions (order_id, driver_ids)
  SELECT (SELECT id FROM o), array_agg(id ORDER BY live DESC, score DESC, id) FROM top
  HAVING count(*) > 0
  ON CONFLICT (order_id) DO UPDATE SET driver_ids = excluded.driver_ids, shown_at = now())
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM o) THEN NULL ELSE
 (SELECT coalesce(json_agg(json_build_object('driver_id', id, 'full_name', full_name,
  'score', score, 'distance_km', round(km::numeric, 2), 'active_orders', active,
  'reasons', json_build_array(
   CASE WHEN km IS NULL THEN 'distance unknown (no position)'
    ELSE round(km::numeric, 1) || ' km away' END,
   active || ' active order' || CASE WHEN active = 1 THEN '' ELSE 's' END,
   CASE WHEN live THEN 'online with a fresh position' ELSE 'offline or position stale'
   END)) ORDER BY live DESC, score DESC, id), '[]'::json) FROM top) END,
 (SELECT status FROM o), (SELECT status = ANY (order_action_from('assign')) FROM o);
