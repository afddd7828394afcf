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

-- failed counts the orders now failed; failed_attempts and failure_reasons
-- count every failure of these orders in their history (an order failed
-- twice, then delivered or returned, adds 2), by the history's reason_code.
-- name: analytics_summary
-- replica: ok
-- $1 from (a date), or NULL for today
-- $2 to (a date), or NULL for today
-- $3 scope: the caller's warehouse when a scoped manager, else NULL
WITH rng AS (SELECT * FROM analytics_range($1::date, $2::date)),
 o AS (SELECT o.id, o.status, o.assigned_at, o.picked_up_at,
  extract(epoch FROM o.delivered_at - o.picked_up_at) AS secs,
  order_on_time(o.delivered_at, o.estimated_delivery_time, o.created_at, rng.sla) AS on_time
  FROM rng CROSS JOIN warehouses w CROSS JOIN LATERAL (SELECT * FROM orders o
  WHERE o.warehouse_id = w.id AND o.created_at >= rng.a AND o.created_at < rng.b
  OFFSET 0) o WHERE ($3::bigint IS NULL OR w.id = $3)),
 fa AS (SELECT coalesce(h.reason_code, 'unspecified') AS c FROM o
  JOIN order_status_history h ON h.order_id = o.id WHERE h.to_status = 'failed')
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
 'failed_attempts', (SELECT count(*) FROM fa),
 'failure_reasons', (SELECT coalesce(json_agg(json_build_object('code', c, 'count', n)
  ORDER BY n DESC, c), '[]'::json) FROM (SELECT c, count(*) AS n FROM fa GROUP BY c) x)) FROM o;

-- name: analytics_drivers
-- replica: ok
-- $1 from (a date), or NULL for today
-- $2 to (a date), or NULL for today
-- $3 scope: the caller's warehouse when a scoped manager, else NULL
WITH rng AS (SELECT * FROM analytics_range($1::date, $2::date)),
 o AS (SELECT o.driver_id, o.status, extract(epoch FROM o.delivered_at - o.picked_up_at)
  AS secs, order_on_time(o.delivered_at, o.estimated_delivery_time, o.created_at, rng.sla)
  AS on_time
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

-- Every active driver is a candidate (a scoped manager's: their
-- warehouse's), ranked by suggestion_score() alone, best first (ties: the
-- lower driver id); reasons are suggestion_reasons() (both in
-- sql/schema/suggestions.sql). The history in the area is one grouped
-- range of orders_area_delivered_idx for every candidate at once. The list
-- shown is remembered (order_suggestions) so the assignment that follows
-- records a decision. Columns: the answer (NULL: no visible order), the
-- order's status, whether assign takes it (order_action_from('assign')).
-- name: suggestions_for_order
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 the suggestion_weights setting (a JSON object)
-- $4 the location_stale_seconds setting
-- $5 the driver_offline_after_seconds setting
-- $6 how many drivers to suggest
-- $7 the suggestion_history_days setting
-- $8 the driver_cash_limit setting (KWD, decimal text)
-- $9 the sla_minutes setting
WITH o AS (SELECT o.id, o.status, o.area, coalesce(o.delivery_latitude, w.latitude) AS lat,
  coalesce(o.delivery_longitude, w.longitude) AS lng FROM orders o
  JOIN warehouses w ON w.id = o.warehouse_id
  WHERE o.id = $1 AND ($2::bigint IS NULL OR o.warehouse_id = $2)),
 d AS (SELECT d.id, u.full_name,
  d.is_online AND coalesce(d.last_seen_at > now() - make_interval(secs => $5::int), false)
   AS online,
  coalesce(d.last_recorded_at > now() - make_interval(secs => $4::int), false) AS fresh,
  extract(epoch FROM now() - d.last_recorded_at)::float8 AS age,
  distance_km(d.last_latitude, d.last_longitude, o.lat, o.lng) AS km,
  (SELECT count(*) FROM orders a WHERE a.driver_id = d.id
   AND order_status_is_active(a.status)) AS active,
  (SELECT coalesce(sum(p.amount), 0) FROM payment_collections p WHERE p.driver_id = d.id
   AND p.status = 'unpaid' AND p.method = 'cash') AS cash
  FROM drivers d JOIN users u ON u.id = d.user_id, o WHERE d.is_active
  AND o.status = ANY (order_action_from('assign'))
  AND ($2::bigint IS NULL OR d.warehouse_id = $2)),
 h AS (SELECT h.driver_id, count(*) AS n, count(*) FILTER (WHERE order_on_time(h.delivered_at,
   h.estimated_delivery_time, h.created_at, $9::int)) AS on_time
  FROM o JOIN orders h ON lower(h.area) = lower(o.area)
  WHERE h.status = 'delivered' AND h.delivered_at >= now() - make_interval(days => $7::int)
  AND h.driver_id IN (SELECT id FROM d) GROUP BY h.driver_id),
 sc AS (SELECT d.*, coalesce(h.n, 0) AS n, coalesce(h.on_time, 0) AS on_time,
  suggestion_score($3::jsonb, d.online, d.fresh, d.km, d.active, coalesce(h.n, 0),
   coalesce(h.on_time, 0), d.cash, $8::numeric) AS score
  FROM d LEFT JOIN h ON h.driver_id = d.id),
 top AS (SELECT * FROM sc ORDER BY score DESC, id LIMIT $6::int),
 mem AS (INSERT INTO order_suggestions (order_id, driver_ids)
  SELECT (SELECT id FROM o), array_agg(id ORDER BY score DESC, id) FROM top
  HAVING count(*) > 0
  ON CONFLICT (order_id) DO UPDATE SET driver_ids = excluded.driver_ids, shown_at = now())
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM o) THEN NULL ELSE
 (SELECT coalesce(json_agg(json_build_object('driver_id', top.id, 'full_name', top.full_name,
  'score', top.score, 'distance_km', round(top.km::numeric, 2), 'active_orders', top.active,
  'reasons', suggestion_reasons(top.online, top.fresh, top.age, top.km, top.active, o.area,
   $7::int, top.n, top.on_time, top.cash, $8::numeric))
  ORDER BY top.score DESC, top.id), '[]'::json) FROM top, o) END,
 (SELECT status FROM o), (SELECT status = ANY (order_action_from('assign')) FROM o);

-- The suggestions' backtest: every manual assignment of the period (a
-- history row to 'assigned' with a changed_by user, created in the days
-- analytics_range() cuts) replayed with what was known at that moment, and
-- scored by the live suggestions' suggestion_score() with today's settings.
-- At the assignment's instant T, for every candidate driver:
--   candidates  drivers created before T, within the assigning user's
--               warehouse when that user is scoped; a driver inactive now
--               counts only when last updated after T (deactivation
--               updates the row), since no history of is_active is kept
--   position    the last driver_locations point recorded at or before T
--               (the unique (driver_id, recorded_at) index); fresh when
--               within location_stale_seconds of T
--   online      a work session open at T
--   load        the orders active at T, from the history: a row to an
--               active status with a driver lasts until the order's next
--               history row
--   cash        cash collections made before T and not remitted by T
--   history     deliveries in the order's area within
--               suggestion_history_days before T (order_on_time())
-- Load, cash and history are running sums over one sorted stream of
-- events per driver (per area and driver) into which every (assignment,
-- candidate) pair is inserted as a probe: one sort instead of a join of
-- every pair with every interval. Ties between events at the same instant:
-- ends, then probes, then starts (an interval [t0, t1) is active at T when
-- t0 < T <= ... < t1). Candidates are ranked as live (score, then the lower
-- driver id). An assignment's outcome is on time when the chosen driver
-- delivered the order on time; the on-time rates are over the assignments
-- whose chosen driver delivered the order.
-- name: analytics_suggestion_backtest
-- replica: ok
-- $1 from (a date), or NULL for today
-- $2 to (a date), or NULL for today
-- $3 scope: the caller's warehouse when a scoped manager, else NULL
WITH rng AS (SELECT * FROM analytics_range($1::date, $2::date)),
 s AS (SELECT coalesce((SELECT value FROM settings WHERE key = 'suggestion_weights'),
   '{}'::jsonb) AS w,
  coalesce((SELECT (value #>> '{}')::int FROM settings
   WHERE key = 'location_stale_seconds'), 300) AS stale,
  coalesce((SELECT (value #>> '{}')::int FROM settings
   WHERE key = 'suggestion_history_days'), 90) AS days,
  coalesce((SELECT (value #>> '{}')::numeric FROM settings
   WHERE key = 'driver_cash_limit'), 100) AS cash_limit),
 asg AS (SELECT h.id AS asg_id, h.driver_id AS chosen, h.created_at AS t, o.warehouse_id,
  lower(o.area) AS area, coalesce(o.delivery_latitude, w.latitude) AS lat,
  coalesce(o.delivery_longitude, w.longitude) AS lng, u.warehouse_id AS assigner_scope,
  o.status = 'delivered' AND o.driver_id = h.driver_id AS delivered,
  o.status = 'delivered' AND o.driver_id = h.driver_id
   AND order_on_time(o.delivered_at, o.estimated_delivery_time, o.created_at, rng.sla)
   AS on_time
  FROM rng, order_status_history h JOIN orders o ON o.id = h.order_id
  JOIN warehouses w ON w.id = o.warehouse_id JOIN users u ON u.id = h.changed_by
  WHERE h.to_status = 'assigned' AND h.driver_id IS NOT NULL
  AND h.created_at >= rng.a AND h.created_at < rng.b
  AND ($3::bigint IS NULL OR o.warehouse_id = $3)),
 cand AS (SELECT a.asg_id, a.t, a.area, a.lat, a.lng, d.id AS driver_id FROM asg a
  JOIN drivers d ON d.created_at <= a.t AND (d.is_active OR d.updated_at > a.t)
  AND (a.assigner_scope IS NULL OR d.warehouse_id = a.assigner_scope)),
 iv AS (SELECT x.driver_id, x.t0, x.t1 FROM (SELECT h.to_status, h.driver_id,
   h.created_at AS t0, lead(h.created_at) OVER (PARTITION BY h.order_id ORDER BY h.id) AS t1
   FROM rng, order_status_history h WHERE h.created_at < rng.b) x, rng
  WHERE order_status_is_active(x.to_status) AND x.driver_id IS NOT NULL
  AND (x.t1 IS NULL OR x.t1 > rng.a)),
 cv AS (SELECT p.driver_id, p.amount, p.collected_at AS t0,
  coalesce(p.remitted_at, p.settled_at) AS t1 FROM rng, payment_collections p
  WHERE p.method = 'cash' AND p.driver_id IS NOT NULL AND p.collected_at < rng.b
  AND coalesce(p.remitted_at, p.settled_at, 'infinity') > rng.a),
 ev AS (SELECT driver_id, t0 AS t, 2 AS k, 1 AS da, 0::numeric AS dc, NULL::bigint AS asg_id
   FROM iv
  UNION ALL SELECT driver_id, t1, 0, -1, 0, NULL FROM iv WHERE t1 IS NOT NULL
  UNION ALL SELECT driver_id, t0, 2, 0, amount, NULL FROM cv
  UNION ALL SELECT driver_id, t1, 0, 0, -amount, NULL FROM cv WHERE t1 IS NOT NULL
  UNION ALL SELECT driver_id, t, 1, 0, 0, asg_id FROM cand),
 run AS (SELECT y.asg_id, y.driver_id, y.active, y.cash FROM (SELECT asg_id, driver_id,
   sum(da) OVER w AS active, sum(dc) OVER w AS cash FROM ev
   WINDOW w AS (PARTITION BY driver_id ORDER BY t, k ROWS UNBOUNDED PRECEDING)) y
  WHERE y.asg_id IS NOT NULL),
 hd AS (SELECT lower(o.area) AS area, o.driver_id, o.delivered_at AS t,
  order_on_time(o.delivered_at, o.estimated_delivery_time, o.created_at, rng.sla)::int AS ot
  FROM rng, s, orders o WHERE o.status = 'delivered'
  AND lower(o.area) IN (SELECT area FROM asg WHERE area IS NOT NULL)
  AND o.delivered_at >= rng.a - make_interval(days => s.days) AND o.delivered_at < rng.b
  AND o.driver_id IS NOT NULL),
 hev AS (SELECT area, driver_id, t, 2 AS k, 1 AS dn, ot AS dot, NULL::bigint AS asg_id FROM hd
  UNION ALL SELECT area, driver_id, t + make_interval(days => s.days), 0, -1, -ot, NULL
   FROM hd, s
  UNION ALL SELECT area, driver_id, t, 1, 0, 0, asg_id FROM cand WHERE area IS NOT NULL),
 hrun AS (SELECT z.asg_id, z.driver_id, z.n, z.ot FROM (SELECT asg_id, driver_id,
   sum(dn) OVER w AS n, sum(dot) OVER w AS ot FROM hev
   WINDOW w AS (PARTITION BY area, driver_id ORDER BY t, k ROWS UNBOUNDED PRECEDING)) z
  WHERE z.asg_id IS NOT NULL),
 sc AS (SELECT c.asg_id, c.driver_id, suggestion_score(s.w,
   coalesce(ws.open, false), coalesce(pos.recorded_at > c.t - make_interval(secs => s.stale),
    false), distance_km(pos.latitude, pos.longitude, c.lat, c.lng), run.active, hrun.n,
   hrun.ot, run.cash, s.cash_limit) AS score
  FROM s, cand c
  LEFT JOIN run ON run.asg_id = c.asg_id AND run.driver_id = c.driver_id
  LEFT JOIN hrun ON hrun.asg_id = c.asg_id AND hrun.driver_id = c.driver_id
  LEFT JOIN LATERAL (SELECT l.latitude, l.longitude, l.recorded_at FROM driver_locations l
   WHERE l.driver_id = c.driver_id AND l.recorded_at <= c.t
   ORDER BY l.recorded_at DESC LIMIT 1) pos ON true
  LEFT JOIN LATERAL (SELECT ws.ended_at IS NULL OR ws.ended_at > c.t AS open
   FROM work_sessions ws WHERE ws.driver_id = c.driver_id AND ws.started_at <= c.t
   ORDER BY ws.started_at DESC LIMIT 1) ws ON true),
 rk AS (SELECT asg_id, driver_id,
  row_number() OVER (PARTITION BY asg_id ORDER BY score DESC, driver_id) AS pos FROM sc),
 r AS (SELECT a.*, rk.pos FROM asg a
  LEFT JOIN rk ON rk.asg_id = a.asg_id AND rk.driver_id = a.chosen),
 byw AS (SELECT warehouse_id, count(*) AS n, count(*) FILTER (WHERE pos = 1) AS top1,
  count(*) FILTER (WHERE pos <= 3) AS top3,
  count(*) FILTER (WHERE pos = 1 AND delivered) AS d1,
  count(*) FILTER (WHERE pos = 1 AND on_time) AS ot1,
  count(*) FILTER (WHERE pos IS DISTINCT FROM 1 AND delivered) AS d2,
  count(*) FILTER (WHERE pos IS DISTINCT FROM 1 AND on_time) AS ot2,
  GROUPING(warehouse_id) = 1 AS total
  FROM r GROUP BY ROLLUP (warehouse_id)),
 j AS (SELECT warehouse_id, json_build_object('assignments', n, 'top1', top1, 'top3', top3,
   'top1_rate', round(top1::numeric / nullif(n, 0), 4),
   'top3_rate', round(top3::numeric / nullif(n, 0), 4),
   'delivered_top1', d1, 'delivered_other', d2,
   'on_time_rate_top1', round(ot1::numeric / nullif(d1, 0), 4),
   'on_time_rate_other', round(ot2::numeric / nullif(d2, 0), 4))::jsonb AS body, total
  FROM byw)
SELECT (jsonb_build_object('from', rng.f, 'to', rng.t)
 || coalesce((SELECT body FROM j WHERE total), jsonb_build_object('assignments', 0, 'top1', 0,
   'top3', 0, 'top1_rate', NULL, 'top3_rate', NULL, 'delivered_top1', 0, 'delivered_other', 0,
   'on_time_rate_top1', NULL, 'on_time_rate_other', NULL))
 || jsonb_build_object('by_warehouse', coalesce((SELECT jsonb_agg(jsonb_build_object(
   'warehouse_id', warehouse_id) || body ORDER BY warehouse_id) FROM j WHERE NOT total),
   '[]'::jsonb)))::text FROM rng;
