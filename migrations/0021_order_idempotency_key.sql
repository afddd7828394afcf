-- POST /orders may carry an Idempotency-Key header (as payments do, 0018):
-- a client that retries after a lost answer (a timeout, a 503 whose outcome
-- was unknown) sends the same key and gets the order created the first
-- time instead of a second order. The key is the client's, scoped to the
-- user who creates; idempotency_sha256 is the SHA-256 of the request body
-- that used it, so the same key with another body is a conflict, not a
-- replay. Orders created without a key (import, D365, POST without the
-- header) leave both NULL.
ALTER TABLE orders
  ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 128),
  ADD COLUMN idempotency_sha256 bytea;
CREATE UNIQUE INDEX orders_idempotency_idx
  ON orders (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
