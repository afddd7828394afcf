-- POST /orders/{id}/payment may carry an Idempotency-Key header: an app
-- that retries after a lost response sends the same key again and gets the
-- payment it already recorded, instead of a second collection of the same
-- cash. The key is the client's, scoped to the order. Requests without one
-- behave as before (each records a collection).
ALTER TABLE payment_collections ADD COLUMN idempotency_key text
  CHECK (length(idempotency_key) BETWEEN 1 AND 128);
CREATE UNIQUE INDEX payment_collections_idempotency_idx
  ON payment_collections (order_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
