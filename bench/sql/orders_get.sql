-- pgbench reference for GET /api/v1/orders/{id} (an admin): api_orders_get
-- (src/api/orders.c) with its scope and driver parameters NULL, written as
-- NULL literals (the daemon's unnamed statement is planned with those values
-- too). Run with -D n=<max order id>.
\set id random(1, :n)
SELECT body FROM api_orders o WHERE o.id = :id AND (NULL::bigint IS NULL OR o.warehouse_id = NULL) AND (NULL::bigint IS NULL OR o.driver_id = NULL);
