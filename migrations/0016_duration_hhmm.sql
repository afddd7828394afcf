-- A duration in seconds as "HH:MM", hours growing past 24 and 99 instead of
-- wrapping or being cut: what order_body() writes as delivery_time, for the
-- export's Delivery Time column (which cut "123:05" to "12:05" with lpad).
CREATE FUNCTION duration_hhmm(s bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN s IS NOT NULL THEN
    CASE WHEN s < 0 THEN '-' ELSE '' END
    || lpad((abs(s) / 3600)::text, greatest(2, length((abs(s) / 3600)::text)), '0')
    || ':' || lpad((abs(s) % 3600 / 60)::text, 2, '0')
  END
$$;
