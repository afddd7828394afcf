-- Cash on delivery (src/api/payments.c): record a collection, remit and
-- settle in batches, a driver's cash balance. Which order statuses take a
-- payment is order_action_from('payment') (sql/schema/order_rules.sql);
-- who sees a payment, payment_visible() (sql/schema/payments.sql).

-- name: payment_record
-- Its payment.recorded event in the same statement (none for a replay or
-- a refusal: the event's INSERT reads the rows inserted). An archived
-- order takes no new payment (its payments are still remitted and settled).
-- Columns: the order's status, the new payment's id (NULL: none), whether
-- the order is archived.
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
-- $4 method
-- $5 amount (decimal text)
-- $6 the collecting user's id
-- $7 the Idempotency-Key, or NULL
WITH o AS (SELECT id, driver_id, amount, status, warehouse_id, is_archived FROM orders
  WHERE id = $1 AND order_visible(warehouse_id, driver_id, $2, $3)),
 ins AS (INSERT INTO payment_collections AS pc (order_id, driver_id, method, amount,
  expected_amount, discrepancy, collected_by, idempotency_key)
  SELECT o.id, o.driver_id, $4, $5::numeric, o.amount,
   o.amount IS DISTINCT FROM $5::numeric, $6, $7 FROM o
  WHERE o.status = ANY (order_action_from('payment')) AND NOT o.is_archived
  ON CONFLICT (order_id, idempotency_key) WHERE idempotency_key IS NOT NULL
  DO NOTHING RETURNING pc.id, pc.order_id, payment_body(pc) AS body),
 ev AS (INSERT INTO events (type, order_id, warehouse_id, data)
  SELECT 'payment.recorded', ins.order_id, o.warehouse_id,
   json_build_object('payment', ins.body) FROM ins, o)
SELECT o.status, (SELECT id FROM ins), o.is_archived FROM o;

-- name: payment_get
-- $1 payment id
SELECT body FROM api_payments WHERE id = $1;

-- name: payment_by_idempotency_key
-- $1 order id
-- $2 the Idempotency-Key
-- $3 method of this request
-- $4 amount of this request (decimal text)
SELECT v.body, p.method = $3 AND p.amount = $4::numeric
  FROM payment_collections p JOIN api_payments v ON v.id = p.id
 WHERE p.order_id = $1 AND p.idempotency_key = $2;

-- Remit and settle: one statement each for many ids (unpaid -> remitted,
-- remitted -> settled); per id its current status and whether it moved.
-- Each payment moved writes its payment.remitted / payment.settled event
-- in the same statement.

-- name: payment_remit
-- $1 payment ids (a bigint[] literal)
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 the remitting user's id
WITH ids AS (SELECT DISTINCT unnest($1::bigint[]) AS id),
 cur AS (SELECT p.id, p.status FROM payment_collections p JOIN orders o ON o.id = p.order_id
  WHERE p.id IN (SELECT id FROM ids) AND payment_visible(p.driver_id, o.warehouse_id, $2, NULL)
  ORDER BY p.id FOR UPDATE OF p),
 upd AS (UPDATE payment_collections p SET status = 'remitted', remitted_at = now(),
  remitted_by = $3::bigint
  FROM cur WHERE p.id = cur.id AND cur.status = 'unpaid'
  RETURNING p.id, p.order_id, payment_body(p) AS body),
 ev AS (INSERT INTO events (type, order_id, warehouse_id, data)
  SELECT 'payment.remitted', upd.order_id, o.warehouse_id, json_build_object('payment', upd.body)
  FROM upd JOIN orders o ON o.id = upd.order_id ORDER BY upd.id)
SELECT ids.id, cur.status, upd.id IS NOT NULL FROM ids
  LEFT JOIN cur ON cur.id = ids.id LEFT JOIN upd ON upd.id = ids.id ORDER BY ids.id;

-- name: payment_settle
-- $1 payment ids (a bigint[] literal)
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 the settling user's id
WITH ids AS (SELECT DISTINCT unnest($1::bigint[]) AS id),
 cur AS (SELECT p.id, p.status FROM payment_collections p JOIN orders o ON o.id = p.order_id
  WHERE p.id IN (SELECT id FROM ids) AND payment_visible(p.driver_id, o.warehouse_id, $2, NULL)
  ORDER BY p.id FOR UPDATE OF p),
 upd AS (UPDATE payment_collections p SET status = 'settled', settled_at = now(),
  settled_by = $3::bigint
  FROM cur WHERE p.id = cur.id AND cur.status = 'remitted'
  RETURNING p.id, p.order_id, payment_body(p) AS body),
 ev AS (INSERT INTO events (type, order_id, warehouse_id, data)
  SELECT 'payment.settled', upd.order_id, o.warehouse_id, json_build_object('payment', upd.body)
  FROM upd JOIN orders o ON o.id = upd.order_id ORDER BY upd.id)
SELECT ids.id, cur.status, upd.id IS NOT NULL FROM ids
  LEFT JOIN cur ON cur.id = ids.id LEFT JOIN upd ON upd.id = ids.id ORDER BY ids.id;

-- name: payment_driver_cash
-- $1 driver id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
SELECT json_build_object(
  'unpaid_total', coalesce(sum(p.amount) FILTER (WHERE p.status = 'unpaid'), 0)::numeric(12,3)::text,
  'unpaid_count', count(p.id) FILTER (WHERE p.status = 'unpaid'),
  'remitted_total', coalesce(sum(p.amount) FILTER (WHERE p.status = 'remitted'), 0)::numeric(12,3)::text,
  'remitted_count', count(p.id) FILTER (WHERE p.status = 'remitted'))
  FROM drivers d LEFT JOIN payment_collections p ON p.driver_id = d.id AND p.method = 'cash'
 WHERE d.id = $1 AND ($2::bigint IS NULL OR d.warehouse_id = $2) GROUP BY d.id;
