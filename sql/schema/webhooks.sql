-- Webhooks out: which subscriptions want an event, the trigger that turns
-- each committed event into its deliveries, and the deliveries' JSON.
-- Repeatable file: see common.sql. Sorts after events.sql (the events
-- table itself is migration 0024's).

-- Does a subscription's list of patterns take this event type? A pattern
-- is an exact type ('payment.settled'), a prefix ('order.*': every
-- order.<x>) or '*' (everything). The one home of that rule: the trigger
-- below uses it; the API checks only the patterns' spelling.
CREATE OR REPLACE FUNCTION webhook_event_matches(patterns text[], event_type text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT event_type = ANY (patterns)
      OR '*' = ANY (patterns)
      OR split_part(event_type, '.', 1) || '.*' = ANY (patterns)
$$;

-- One pending delivery per active subscription that wants the event, in
-- the transaction that wrote the event (so a rolled-back change has none),
-- then one NOTIFY: it reaches the workers at commit, only if the
-- transaction commits, and only wakes them (the rows are the work).
-- Statement-level over the transition table: an import that writes
-- thousands of events runs one INSERT ... SELECT and one NOTIFY.
CREATE OR REPLACE FUNCTION events_to_webhook_deliveries() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  last_id bigint;
BEGIN
  INSERT INTO webhook_deliveries (subscription_id, event_id, order_id)
  SELECT s.id, e.id, e.order_id
  FROM new_events e
  JOIN webhook_subscriptions s
    ON s.is_active AND webhook_event_matches(s.events, e.type)
  ORDER BY e.id, s.id
  ON CONFLICT (subscription_id, event_id) DO NOTHING;
  SELECT max(id) INTO last_id FROM new_events;
  IF last_id IS NOT NULL THEN
    PERFORM pg_notify('deliveryd_events', last_id::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER events_webhook_deliveries AFTER INSERT ON events
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION events_to_webhook_deliveries();

CREATE OR REPLACE TRIGGER webhook_subscriptions_set_updated_at
  BEFORE UPDATE ON webhook_subscriptions
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The worker's claim (service/webhook_worker.c, through
-- webhook_deliveries_claim in sql/queries/webhooks_out.sql): takes up to
-- max_rows due deliveries and leases them - next_attempt_at moves
-- lease_seconds ahead and is committed before anything is sent, so another
-- worker leaves them alone (SKIP LOCKED while this runs, the lease after)
-- and a worker that dies loses nothing (the lease runs out, the delivery is
-- due again: at least once). Per subscription, a delivery waits while an
-- earlier event of the same order is still pending (one order's events in
-- the order they happened), and at most its free slots are taken
-- (busy_subs/busy_free: this worker's subscriptions with transfers in
-- flight and their free slots; per_sub for the others).
-- A function for its SET: the planner's estimates (a never-analyzed
-- subscriptions table, a LIMIT it cannot see) put the statement above
-- jit_above_cost, and compiling it cost 15 ms against 1 ms to run.
CREATE OR REPLACE FUNCTION webhook_deliveries_claim(max_rows int, busy_subs bigint[],
                                                    busy_free int[], per_sub int,
                                                    lease_seconds int)
RETURNS TABLE (id bigint, subscription_id bigint, url text, secret text, event_id bigint,
               body text)
LANGUAGE sql
SET jit = off
AS $$
  WITH busy AS (SELECT * FROM unnest(busy_subs, busy_free) AS b (sub, free)),
  picked AS (
    SELECT x.id
    FROM webhook_subscriptions s
    LEFT JOIN busy b ON b.sub = s.id
    CROSS JOIN LATERAL (
      SELECT d.id
      FROM webhook_deliveries d
      WHERE d.subscription_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= now()
        -- the order's earliest pending event (a scalar subquery: one index
        -- probe per candidate, never a scan of the order-less backlog)
        AND (d.order_id IS NULL
             OR d.event_id = (SELECT e.event_id FROM webhook_deliveries e
                               WHERE e.subscription_id = d.subscription_id
                                 AND e.order_id = d.order_id AND e.status = 'pending'
                               ORDER BY e.event_id LIMIT 1))
      ORDER BY d.event_id
      LIMIT greatest(coalesce(b.free, per_sub), 0)
      FOR UPDATE OF d SKIP LOCKED) x
    WHERE s.is_active
    LIMIT max_rows)
  UPDATE webhook_deliveries d
     SET next_attempt_at = now() + make_interval(secs => lease_seconds)
    FROM events e, webhook_subscriptions s
   WHERE d.id = ANY (ARRAY(SELECT id FROM picked)) -- by the primary key, never a scan
     AND e.id = d.event_id AND s.id = d.subscription_id
  RETURNING d.id, d.subscription_id, s.url, s.secret, d.event_id,
            json_build_object('id', e.id, 'type', e.type, 'created_at', api_ts(e.created_at),
                              'data', e.data)::text AS body;
$$;

-- A subscription's JSON (never the secret: only POST shows it, once).
DROP VIEW IF EXISTS api_webhook_subscriptions;
CREATE VIEW api_webhook_subscriptions AS
SELECT s.id,
       s.created_at,
       json_build_object(
         'id',          s.id,
         'url',         s.url,
         'events',      s.events,
         'description', s.description,
         'is_active',   s.is_active,
         'created_at',  api_ts(s.created_at),
         'updated_at',  api_ts(s.updated_at)
       ) AS body
FROM webhook_subscriptions s;

-- A delivery's JSON (GET /webhooks/subscriptions/{id}/deliveries).
DROP VIEW IF EXISTS api_webhook_deliveries;
CREATE VIEW api_webhook_deliveries AS
SELECT d.id,
       d.subscription_id,
       d.status,
       d.event_id,
       json_build_object(
         'id',               d.id,
         'subscription_id',  d.subscription_id,
         'event_id',         d.event_id,
         'type',             e.type,
         'order_id',         d.order_id,
         'status',           d.status,
         'attempts',         d.attempts,
         'last_status_code', d.last_status_code,
         'last_error',       d.last_error,
         'next_attempt_at',  CASE WHEN d.status = 'pending' THEN api_ts(d.next_attempt_at) END,
         'delivered_at',     api_ts(d.delivered_at),
         'created_at',       api_ts(d.created_at)
       ) AS body
FROM webhook_deliveries d
JOIN events e ON e.id = d.event_id;
