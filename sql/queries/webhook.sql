-- The Dynamics 365 webhook (src/api/webhook.c): each event id applied once.

-- name: webhook_event_insert
-- $1 event id (X-D365-Event-Id)
-- $2 event type
-- $3 the body (JSON text)
INSERT INTO webhook_events (event_id, event_type, payload)
VALUES ($1, $2, $3::jsonb) ON CONFLICT (event_id) DO NOTHING
RETURNING id;

-- name: webhook_event_done
-- $1 event id
-- $2 applied (boolean text)
-- $3 what was done, for the log of events
UPDATE webhook_events SET applied = $2::bool, detail = $3
 WHERE event_id = $1;

-- An event whose processing failed, so that a retry is processed again.
-- name: webhook_event_forget
-- $1 event id
DELETE FROM webhook_events WHERE event_id = $1;

-- name: webhook_order_by_number
-- $1 order number
SELECT id FROM orders WHERE order_number = $1;
