-- Webhooks out (API.md "Outbound events"): who wants which events, and one
-- delivery row per (subscription, event), written by the trigger on events
-- (sql/schema/webhooks.sql) in the transaction that wrote the event.
--   events        patterns: a type ('payment.settled'), a prefix ('order.*')
--                 or '*' (webhook_event_matches() in sql/schema/webhooks.sql)
--   secret        the HMAC-SHA256 key of X-Deliveryd-Signature: 32 random
--                 bytes as hex, made by the daemon, shown once (the POST)
CREATE TABLE webhook_subscriptions (
  id          bigserial PRIMARY KEY,
  url         text NOT NULL CHECK (length(url) <= 2048),
  events      text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 64),
  description text CHECK (length(description) <= 500),
  is_active   boolean NOT NULL DEFAULT true,
  secret      text NOT NULL CHECK (secret ~ '^[0-9a-f]{64}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per event a subscription wants. The worker (service/
-- webhook_worker.c) claims pending rows whose next_attempt_at has come by
-- moving next_attempt_at 30 s ahead (a lease, committed before sending),
-- then records the outcome: delivered, or attempts + 1 and the next
-- attempt after webhook_retry_base_seconds * 2^(attempts-1), dead after
-- webhook_max_attempts. A daemon that dies mid-send loses nothing: the
-- lease runs out and the row is sent again (at least once).
--   order_id  the event's order (copied: one order's events go out in
--             event order per subscription)
CREATE TABLE webhook_deliveries (
  id               bigserial PRIMARY KEY,
  subscription_id  bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
  event_id         bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  order_id         bigint,
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_status_code integer,
  last_error       text,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (subscription_id, event_id)
);
-- the claim: a subscription's pending rows in event order ...
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (subscription_id, event_id)
  WHERE status = 'pending';
-- ... none of which may pass an earlier pending row of the same order
CREATE INDEX webhook_deliveries_pending_order_idx
  ON webhook_deliveries (subscription_id, order_id, event_id)
  WHERE status = 'pending' AND order_id IS NOT NULL;
-- GET /webhooks/subscriptions/{id}/deliveries, newest first
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (subscription_id, id);
-- purge-events deletes events: their deliveries go by this index
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

INSERT INTO settings (key, value) VALUES
  ('webhook_retry_base_seconds', '10'),
  ('webhook_max_attempts', '12')
  ON CONFLICT (key) DO NOTHING;
