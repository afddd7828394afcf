-- Payment collections: the public JSON. Repeatable file: see common.sql.

-- The columns are listed, not p.*: the view was created (migration 0001)
-- before migration 0018 added idempotency_key, so p.* expanded to the
-- columns below and the key was never exposed; listing them keeps the view
-- exactly as it is. Add a column here when a query needs it. Dropped and
-- created like the other api_* views (see warehouses.sql).
DROP VIEW IF EXISTS api_payments;
CREATE VIEW api_payments AS
SELECT p.id,
       p.order_id,
       p.driver_id,
       p.method,
       p.amount,
       p.expected_amount,
       p.status,
       p.discrepancy,
       p.collected_by,
       p.collected_at,
       p.remitted_at,
       p.settled_at,
       p.remitted_by,
       p.settled_by,
       json_build_object(
         'id',           p.id,
         'order_id',     p.order_id,
         'driver_id',    p.driver_id,
         'method',       p.method,
         'amount',       p.amount::text,
         'status',       p.status,
         'discrepancy',  p.discrepancy,
         'collected_at', api_ts(p.collected_at),
         'remitted_at',  api_ts(p.remitted_at),
         'settled_at',   api_ts(p.settled_at)
       ) AS body
FROM payment_collections p;
