-- pgbench reference for GET /api/v1/orders?page_size=50 (an admin, no filter):
-- the statement api_orders_list (src/api/orders.c) builds with the default
-- filter of order_filter_or_reply (src/api/order_filters.c).
\set size 50
\set off 0
\set page 1
SELECT json_build_object('items', coalesce((SELECT json_agg(x.body ORDER BY x.rn) FROM (SELECT order_body(o) AS body, row_number() OVER (ORDER BY o.created_at DESC, o.id DESC) AS rn  FROM orders o WHERE TRUE AND NOT o.is_archived ORDER BY o.created_at DESC, o.id DESC LIMIT :size OFFSET :off) x), '[]'::json), 'page', :page::int, 'page_size', :size::int, 'total', (SELECT count(*) FROM orders o WHERE TRUE AND NOT o.is_archived));
