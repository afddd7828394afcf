-- Public tracking (api/track.c): nothing personal beyond the driver's
-- first name.

-- name: track_get
-- The first name is the first word, white space being ASCII, no-break,
-- the U+2000 block, narrow no-break, medium mathematical, ideographic and
-- BOM (names pasted from spreadsheets carry them, and split_part(' ') did
-- not split on them); no driver for an order never or no longer in a
-- driver's hands (order_action_from('track_driver')).
-- $1 tracking token
SELECT json_build_object('order_number', o.order_number, 'status', o.status,
         'estimated_delivery_time', api_ts(o.estimated_delivery_time),
         'driver_first_name',
           (SELECT (regexp_match(u.full_name,
                     '^[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]*([^\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+)'))[1]
              FROM drivers d JOIN users u ON u.id = d.user_id
             WHERE d.id = o.driver_id AND o.status = ANY (order_action_from('track_driver'))),
         'events', (SELECT coalesce(json_agg(json_build_object('status', h.to_status,
                                               'at', api_ts(h.created_at)) ORDER BY h.id), '[]'::json)
                      FROM order_status_history h WHERE h.order_id = o.id))
  FROM orders o WHERE o.tracking_token = $1;
