-- Work sessions: the public JSON. Repeatable file: see common.sql.

-- A work session's JSON is defined once, like order_body(): the view uses
-- it, and so do the statements that insert or close a session and answer
-- with it in the same statement (which cannot see their own rows through
-- the view).
CREATE OR REPLACE FUNCTION work_session_body(s work_sessions) RETURNS json
LANGUAGE sql STABLE
AS $$
  SELECT json_build_object(
           'id',               s.id,
           'started_at',       api_ts(s.started_at),
           'ended_at',         api_ts(s.ended_at),
           -- an open session counts up to now
           'duration_seconds', floor(extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at))::bigint)
$$;

-- Dropped and created, not replaced: s.* (see warehouses.sql).
DROP VIEW IF EXISTS api_work_sessions;
CREATE VIEW api_work_sessions AS
SELECT s.*, work_session_body(s) AS body
FROM work_sessions s;
