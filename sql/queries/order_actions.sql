-- Order actions (src/api/order_actions.c). The actions themselves are one
-- statement each, assembled once from the fragments of
-- src/service/order_actions.c, their statuses from sql/schema/order_rules.sql.

-- name: order_assign_driver
-- whether the driver named by POST /orders/{id}/assign (and batch-assign)
-- exists for the caller and is active
-- $1 driver id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
SELECT is_active FROM drivers WHERE id = $1
   AND ($2::bigint IS NULL OR warehouse_id = $2);
