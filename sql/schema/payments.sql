-- Payment collections: the public JSON. Repeatable file: see common.sql.

-- The payment JSON: by the api_payments view, and by RETURNING of the
-- statements that write a payment (its payment.* event carries it as it is
-- after the change, sql/queries/payments.sql and the deliver action).
CREATE OR REPLACE FUNCTION payment_body(p payment_collections) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT json_build_object(
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
  )
$$;

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
       payment_body(p) AS body
FROM payment_collections p;

-- Who may see a payment: a manager scoped to warehouse p_scope sees those
-- of their warehouse's orders and those their warehouse's drivers collected
-- (the cash comes back to the driver's warehouse, where GET
-- /drivers/{id}/cash counts it, even when an unscoped manager gave the
-- driver another warehouse's order); a driver (p_own) only their own
-- collections; NULL for either means no restriction of that kind.
CREATE OR REPLACE FUNCTION payment_visible(p_driver_id bigint, o_warehouse_id bigint,
                                           p_scope bigint, p_own bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT (p_scope IS NULL OR o_warehouse_id = p_scope
          OR p_driver_id IN (SELECT id FROM drivers WHERE warehouse_id = p_scope))
     AND (p_own IS NULL OR p_driver_id = p_own)
$$;
