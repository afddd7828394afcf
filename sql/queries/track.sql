-- Public tracking (api/track.c, api/track_page.c): nothing personal beyond
-- the driver's first name.

-- name: track_get
-- The driver's first name is first_name() (sql/schema/events.sql: the
-- rule customer messages use too); no driver for an order never or no
-- longer in a driver's hands (order_action_from('track_driver')).
-- Column 1 is the JSON of GET /api/v1/track/{token}; the page
-- GET /t/{token} reads it too, and the three after it: whether the status
-- is terminal (order_status_is_terminal(): the page stops refreshing), the
-- ETA and each event's time in business_timezone() as 'HH24:MI D M'
-- (the page names the month in its language).
-- $1 tracking token
SELECT json_build_object('order_number', o.order_number, 'status', o.status,
         'estimated_delivery_time', api_ts(o.estimated_delivery_time),
         'driver_first_name',
           (SELECT first_name(u.full_name)
              FROM drivers d JOIN users u ON u.id = d.user_id
             WHERE d.id = o.driver_id AND o.status = ANY (order_action_from('track_driver'))),
         'events', ev.events) AS body,
       order_status_is_terminal(o.status) AS terminal,
       to_char(o.estimated_delivery_time AT TIME ZONE z.tz, 'HH24:MI FMDD FMMM') AS eta_local,
       ev.events_local
  FROM orders o
  CROSS JOIN LATERAL (SELECT business_timezone() AS tz) z
  CROSS JOIN LATERAL (
    SELECT coalesce(json_agg(json_build_object('status', h.to_status, 'at', api_ts(h.created_at))
                             ORDER BY h.id), '[]'::json) AS events,
           coalesce(json_agg(to_char(h.created_at AT TIME ZONE z.tz, 'HH24:MI FMDD FMMM')
                             ORDER BY h.id), '[]'::json) AS events_local
      FROM order_status_history h WHERE h.order_id = o.id) ev
 WHERE o.tracking_token = $1;
