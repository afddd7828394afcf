-- The live stream (http/stream.c through service/stream_feed.c): tickets,
-- the outbox read by the hub (one statement a tick for the whole daemon),
-- a reconnecting stream's replay, and the drivers that moved.

-- name: stream_ticket_create
-- A new single-use ticket; expired ones (a minute past) are purged here.
-- $1 the ticket text
-- $2 user id
-- $3 seconds it is valid
WITH gone AS (DELETE FROM stream_tickets WHERE expires_at < now() - interval '1 minute')
INSERT INTO stream_tickets (ticket_hash, user_id, expires_at)
VALUES (sha256(convert_to($1, 'UTF8')), $2, now() + make_interval(secs => $3::int))
RETURNING user_id;

-- name: stream_ticket_consume
-- Consumes a ticket atomically (a second use finds nothing): its user and
-- role, and whether it was still valid.
-- $1 the ticket text
DELETE FROM stream_tickets t USING users u
 WHERE t.ticket_hash = sha256(convert_to($1, 'UTF8')) AND u.id = t.user_id
RETURNING t.user_id, u.role, t.expires_at > now();

-- name: stream_events_after
-- The hub's read of the outbox: events after the cursor, and the ids that
-- were missing last time (a transaction that took its id earlier may
-- commit later); the order's JSON only for order.* events.
-- $1 the cursor (highest id read)
-- $2 ids still missing below it, a bigint[] literal
-- $3 at most this many rows
SELECT id, coalesce(warehouse_id, 0),
       CASE WHEN type LIKE 'order.%' THEN data -> 'order' END
  FROM events
 WHERE id > $1 OR id = ANY($2::bigint[])
 ORDER BY id
 LIMIT $3;

-- name: stream_events_replay
-- A reconnecting stream's missed order events (Last-Event-ID), in scope,
-- up to the hub's cursor; and the oldest id still kept (purged before it).
-- $1 the client's last event id
-- $2 the hub's cursor (live events after it follow)
-- $3 warehouse scope, 0 for all
-- $4 at most this many rows
SELECT id, data -> 'order', (SELECT min(id) FROM events)
  FROM events
 WHERE id > $1 AND id <= $2 AND type LIKE 'order.%'
   AND ($3::bigint = 0 OR warehouse_id = $3)
 ORDER BY id
 LIMIT $4;

-- name: stream_events_oldest
-- The lowest and highest id kept (both 0 when the table is empty).
SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM events;

-- name: stream_drivers_cursor
-- Where the hub starts: the server's clock now.
SELECT now()::text;

-- name: stream_drivers_moved
-- Drivers that sent a point (or went on/offline) since the last tick, one
-- row a driver, with their newest point. By last_seen_at, the server's
-- clock of their last call: recorded_at is the phone's, and a phone a
-- second behind another would never pass a cursor kept in phone time.
-- $1 the highest last_seen_at read so far (text)
SELECT id, coalesce(warehouse_id, 0),
       json_build_object('driver_id', id, 'latitude', last_latitude,
                         'longitude', last_longitude,
                         'recorded_at', api_ts(last_recorded_at))::text,
       last_seen_at::text
  FROM drivers
 WHERE last_seen_at > $1::timestamptz AND last_recorded_at IS NOT NULL
 ORDER BY last_seen_at;
