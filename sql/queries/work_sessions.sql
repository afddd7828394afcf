-- Work sessions (api/sessions.c): online / offline and the reads after them.

-- name: work_session_online
-- Opens a session (the partial unique index allows one open session: a
-- concurrent second "online" inserts nothing), stores the point when given
-- and marks the driver online; the point moves the driver's position only
-- if it is newer. No row: a session was already open.
-- $1 driver id
-- $2 latitude, NULL: no point
-- $3 longitude
WITH ins AS (INSERT INTO work_sessions AS s (driver_id) VALUES ($1)
               ON CONFLICT (driver_id) WHERE ended_at IS NULL DO NOTHING
             RETURNING work_session_body(s) AS body),
     pt AS (INSERT INTO driver_locations (driver_id, latitude, longitude, recorded_at)
            SELECT $1, $2::float8, $3::float8, now() WHERE $2::float8 IS NOT NULL
                ON CONFLICT DO NOTHING RETURNING *),
     d AS (UPDATE drivers dr SET is_online = true, last_seen_at = now(),
             last_latitude = CASE WHEN p.recorded_at > coalesce(dr.last_recorded_at, '-infinity')
                                  THEN p.latitude ELSE dr.last_latitude END,
             last_longitude = CASE WHEN p.recorded_at > coalesce(dr.last_recorded_at, '-infinity')
                                   THEN p.longitude ELSE dr.last_longitude END,
             last_recorded_at = CASE WHEN p.recorded_at > coalesce(dr.last_recorded_at, '-infinity')
                                     THEN p.recorded_at ELSE dr.last_recorded_at END
             FROM (SELECT 1) one LEFT JOIN pt p ON true WHERE dr.id = $1)
SELECT body FROM ins;

-- name: work_session_open
-- $1 driver id
SELECT body FROM api_work_sessions WHERE driver_id = $1 AND ended_at IS NULL;

-- name: work_session_offline
-- The driver's row first, then the session: the lock order of migration
-- 0019's trigger (a deactivation ends the session). No row: already offline.
-- $1 driver id
WITH d AS (UPDATE drivers SET is_online = false WHERE id = $1 RETURNING id),
     c AS (UPDATE work_sessions s SET ended_at = now(), end_reason = 'offline'
            WHERE driver_id = (SELECT id FROM d) AND ended_at IS NULL
        RETURNING work_session_body(s) AS body)
SELECT body FROM c;

-- name: work_session_last
-- $1 driver id
SELECT body FROM api_work_sessions
 WHERE driver_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1;
