-- The transactional outbox (DESIGN.md "Events"): every change that matters
-- outside writes one row here in the same transaction as the change, so
-- nothing is announced that rolled back and nothing committed is lost.
-- Webhooks out, customer messages and the live stream all read this table;
-- LISTEN/NOTIFY only wakes readers up.
--   id            the event's sequence number (the stream's `id:`, the
--                 webhook's X-Deliveryd-Event-Id)
--   type          order.created, order.updated, order.<status>,
--                 payment.recorded|remitted|settled, import.completed,
--                 customer.out_for_delivery|delivered|delivery_failed
--   order_id      the order it is about, if any (per-order ordering)
--   warehouse_id  the warehouse it belongs to, if any (scoped streams)
--   data          the payload's `data` as it was at commit, as json (written
--                 once, sent as it is: no jsonb conversion) ({"order": …},
--                 {"payment": …}, {"import": …}, a customer message)
-- Kept event_retention_days (setting), purged by the purge-events cron job.
CREATE TABLE events (
  id           bigserial PRIMARY KEY,
  type         text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
  order_id     bigint,
  warehouse_id bigint,
  data         json NOT NULL CHECK (json_typeof(data) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created_at_idx ON events (created_at);
CREATE INDEX events_order_idx ON events (order_id, id) WHERE order_id IS NOT NULL;

INSERT INTO settings (key, value) VALUES
  ('event_retention_days', '30'),
  ('customer_messages', 'false')
  ON CONFLICT (key) DO NOTHING;
