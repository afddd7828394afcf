-- The `from`/`to` query parameters of every list: an RFC 3339 time as it
-- is, and a bare date (YYYY-MM-DD) as the start of that business day in
-- business_timezone. GET /orders' created_from/created_to read dates so
-- from the start; /payments, the work sessions and the GPS trail read them
-- as UTC midnight, three hours off Kuwait's day. One definition for all.
CREATE FUNCTION query_time(t text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN length(t) = 10
    THEN (t::date)::timestamp AT TIME ZONE coalesce(
      (SELECT value #>> '{}' FROM settings WHERE key = 'business_timezone'), 'Asia/Kuwait')
    ELSE t::timestamptz END
$$;
