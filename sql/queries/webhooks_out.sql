-- Webhooks out: subscriptions (api/webhooks_out.c) and the delivery
-- worker's claim and outcomes (service/webhook_worker.c).

-- name: webhook_sub_create
-- The one answer that carries the secret.
-- $1 url
-- $2 event patterns, a text[] literal
-- $3 description or NULL
-- $4 secret (64 hex digits)
-- $5 is_active
WITH s AS (INSERT INTO webhook_subscriptions (url, events, description, secret, is_active)
           VALUES ($1, $2::text[], $3, $4, $5::bool) RETURNING *)
SELECT json_build_object('id', s.id, 'url', s.url, 'events', s.events,
                         'description', s.description, 'is_active', s.is_active,
                         'secret', s.secret, 'created_at', api_ts(s.created_at),
                         'updated_at', api_ts(s.updated_at))
FROM s;

-- name: webhook_sub_list
SELECT coalesce(json_agg(body ORDER BY id), '[]'::json) FROM api_webhook_subscriptions;

-- name: webhook_sub_get
-- $1 subscription id
SELECT body FROM api_webhook_subscriptions WHERE id = $1;

-- name: webhook_sub_patch
-- NULL leaves a column as it is; description is set when $5 (so null clears it).
-- $1 subscription id
-- $2 url or NULL
-- $3 event patterns (text[] literal) or NULL
-- $4 is_active or NULL
-- $5 whether description was given
-- $6 description (NULL clears it when $5)
UPDATE webhook_subscriptions
   SET url = coalesce($2, url),
       events = coalesce($3::text[], events),
       is_active = coalesce($4::bool, is_active),
       description = CASE WHEN $5::bool THEN $6 ELSE description END
 WHERE id = $1
RETURNING id;

-- name: webhook_sub_delete
-- Its deliveries go with it (ON DELETE CASCADE).
-- $1 subscription id
DELETE FROM webhook_subscriptions WHERE id = $1 RETURNING id;

-- name: webhook_delivery_retry
-- A dead delivery back to pending, due now, with a full set of attempts;
-- the NOTIFY (sent at commit) wakes the workers. retried 0 and a status:
-- not dead (409); no status: no such delivery (404).
-- $1 delivery id
WITH u AS (UPDATE webhook_deliveries
              SET status = 'pending', attempts = 0, next_attempt_at = now()
            WHERE id = $1 AND status = 'dead'
           RETURNING id, pg_notify('deliveryd_events', '0') AS notified)
SELECT (SELECT count(*) FROM u) AS retried,
       (SELECT status FROM webhook_deliveries WHERE id = $1) AS status;

-- name: webhook_delivery_get
-- $1 delivery id
SELECT body FROM api_webhook_deliveries WHERE id = $1;

-- name: webhook_deliveries_claim
-- Takes up to $1 due deliveries and leases them (webhook_deliveries_claim()
-- in sql/schema/webhooks.sql says how): id, subscription_id, url, secret,
-- event_id, body.
-- $1 how many at most
-- $2 the subscriptions this worker has transfers of (bigint[] literal)
-- $3 their free slots, in the same order (int[] literal)
-- $4 free slots of any other subscription
-- $5 lease in seconds
SELECT id, subscription_id, url, secret, event_id, body
FROM webhook_deliveries_claim($1::int, $2::bigint[], $3::int[], $4::int, $5::int);

-- name: webhook_deliveries_delivered
-- $1 delivery ids (bigint[] literal)
-- $2 their HTTP status codes, same order (int[] literal)
UPDATE webhook_deliveries d
   SET status = 'delivered', attempts = d.attempts + 1, last_status_code = o.code,
       last_error = NULL, delivered_at = now()
  FROM unnest($1::bigint[], $2::int[]) AS o (id, code)
 WHERE d.id = o.id AND d.status = 'pending';

-- name: webhook_deliveries_failed
-- One more attempt each: due again after webhook_retry_base_seconds *
-- 2^(attempts - 1) (at most a day), dead at webhook_max_attempts.
-- $1 delivery ids (bigint[] literal)
-- $2 their HTTP status codes or NULLs, same order (int[] literal)
-- $3 their errors, same order (text[] literal)
WITH cfg AS (
  SELECT coalesce((SELECT (value #>> '{}')::int FROM settings
                    WHERE key = 'webhook_retry_base_seconds'), 10) AS base,
         coalesce((SELECT (value #>> '{}')::int FROM settings
                    WHERE key = 'webhook_max_attempts'), 12) AS max_attempts)
UPDATE webhook_deliveries d
   SET attempts = d.attempts + 1, last_status_code = o.code, last_error = o.error,
       status = CASE WHEN d.attempts + 1 >= cfg.max_attempts THEN 'dead' ELSE 'pending' END,
       next_attempt_at = now() + make_interval(
         secs => least(cfg.base * power(2, least(d.attempts, 30)), 86400))
  FROM unnest($1::bigint[], $2::int[], $3::text[]) AS o (id, code, error), cfg
 WHERE d.id = o.id AND d.status = 'pending';

-- name: webhook_deliveries_release
-- A stopping worker's unfinished transfers: due again now (their lease
-- would otherwise hold them back until it runs out).
-- $1 delivery ids (bigint[] literal)
UPDATE webhook_deliveries SET next_attempt_at = now()
 WHERE id = ANY ($1::bigint[]) AND status = 'pending';
