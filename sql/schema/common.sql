-- Shared functions every resource file uses: the JSON timestamp format, the
-- updated_at trigger function, the "HH:MM" duration and the `from`/`to`
-- parameter reading. Named so it sorts (and is applied) first.
--
-- Repeatable file (docs/architecture.md, "Migrations and sql/schema"):
-- `deliveryd migrate` re-applies it after the numbered migrations whenever
-- its checksum changed, so every statement here must be safe to run again.

-- The JSON contract wants RFC 3339 UTC with a literal Z; json_build_object on
-- timestamptz would print "+00:00" (and follow the session TimeZone).
-- Milliseconds only when there is a fraction, so whole-second values read
-- like the examples in API.md.
--
-- STABLE and not STRICT so the planner inlines it into the views (an
-- IMMUTABLE or STRICT wrapper around to_char is called per value instead:
-- measured 3x slower on 800k timestamps). NULL in gives NULL out.
CREATE OR REPLACE FUNCTION api_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT to_char(t AT TIME ZONE 'UTC',
                 CASE WHEN date_trunc('second', t) = t
                      THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
                      ELSE 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"' END)
$$;

-- One trigger function for every table with updated_at, so a writer cannot
-- forget to bump it.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- A duration in seconds as "HH:MM", hours growing past 24 and 99 instead of
-- wrapping or being cut: what order_body() writes as delivery_time, for the
-- export's Delivery Time column (which cut "123:05" to "12:05" with lpad).
CREATE OR REPLACE FUNCTION duration_hhmm(s bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN s IS NOT NULL THEN
    CASE WHEN s < 0 THEN '-' ELSE '' END
    || lpad((abs(s) / 3600)::text, greatest(2, length((abs(s) / 3600)::text)), '0')
    || ':' || lpad((abs(s) % 3600 / 60)::text, 2, '0')
  END
$$;

-- The business time zone (setting business_timezone, an IANA name;
-- Asia/Kuwait until set): the one place it is looked up. Business days
-- ("today", daily figures, dates in filters and ETAs, export times) are
-- taken in it.
CREATE OR REPLACE FUNCTION business_timezone() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT coalesce((SELECT value #>> '{}' FROM settings WHERE key = 'business_timezone'),
                  'Asia/Kuwait')
$$;

-- The `from`/`to` query parameters of every list: an RFC 3339 time as it
-- is, and a bare date (YYYY-MM-DD) as the start of that business day in
-- business_timezone. GET /orders' created_from/created_to read dates so
-- from the start; /payments, the work sessions and the GPS trail read them
-- as UTC midnight, three hours off Kuwait's day. One definition for all.
CREATE OR REPLACE FUNCTION query_time(t text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN length(t) = 10
    THEN (t::date)::timestamp AT TIME ZONE business_timezone()
    ELSE t::timestamptz END
$$;
