-- pgbench reference for GET /api/v1/drivers/locations (an admin, no scope):
-- the live-map statement of api_locations_map (src/api/locations.c), with
-- location_stale_seconds = 300 and driver_offline_after_seconds = 600 (the
-- defaults). The daemon answers from its 1 s Redis micro-cache most of the
-- time; this is the cost of every miss.
\set stale 300
\set offline 600
SELECT coalesce(json_agg(json_build_object('driver_id', d.id, 'code', d.code,  'full_name', u.full_name, 'latitude', d.last_latitude, 'longitude', d.last_longitude,  'recorded_at', api_ts(d.last_recorded_at),  'is_online', d.is_online AND coalesce(d.last_seen_at > now()   - make_interval(secs => :offline::int), false),  'stale', d.last_recorded_at IS NULL OR d.last_recorded_at < now()   - make_interval(secs => :stale::int),  'active_orders', coalesce(a.n, 0)) ORDER BY d.code), '[]'::json) FROM drivers d JOIN users u ON u.id = d.user_id LEFT JOIN (SELECT driver_id, count(*) AS n FROM orders  WHERE status IN ('assigned', 'picked_up') AND driver_id IS NOT NULL  GROUP BY driver_id) a ON a.driver_id = d.id WHERE d.is_active AND (NULL::bigint IS NULL OR d.warehouse_id = NULL);
