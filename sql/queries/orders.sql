-- Orders: reads by id and the creation look-ups. Visibility of one order
-- ($2 scope, $3 own) is order_visible() (sql/schema once it lands; today
-- written out here, the same two conditions in every statement of this file).

-- name: order_get
-- plan: prepared
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
SELECT body FROM api_orders o
 WHERE o.id = $1
   AND ($2::bigint IS NULL OR o.warehouse_id = $2)
   AND ($3::bigint IS NULL OR o.driver_id = $3);

-- name: order_get_version
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
SELECT body, version FROM api_orders o
 WHERE o.id = $1
   AND ($2::bigint IS NULL OR o.warehouse_id = $2)
   AND ($3::bigint IS NULL OR o.driver_id = $3);

-- name: order_history
-- plan: prepared
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
SELECT (SELECT coalesce(json_agg(json_build_object(
          'from_status', h.from_status, 'to_status', h.to_status,
          'changed_by', CASE WHEN u.id IS NOT NULL THEN json_build_object(
            'id', u.id, 'full_name', u.full_name, 'role', u.role) END,
          'driver_id', h.driver_id, 'previous_driver_id', h.previous_driver_id,
          'reason', h.reason, 'reason_code', h.reason_code,
          'created_at', api_ts(h.created_at)) ORDER BY h.id), '[]'::json)
          FROM order_status_history h LEFT JOIN users u ON u.id = h.changed_by
         WHERE h.order_id = o.id)
  FROM orders o
 WHERE o.id = $1
   AND ($2::bigint IS NULL OR o.warehouse_id = $2)
   AND ($3::bigint IS NULL OR o.driver_id = $3);

-- name: order_by_idempotency_key
-- $1 the creating user's id
-- $2 the Idempotency-Key
-- $3 the SHA-256 (hex) of this request's body
SELECT order_body(o), o.idempotency_sha256 = decode($3, 'hex')
  FROM orders o
 WHERE o.created_by = $1 AND o.idempotency_key = $2;
