-- The days an analytics request covers, once (the three statements of
-- sql/queries/analytics.sql): from and to are dates (NULL = today), both
-- inclusive, cut in business_timezone(); a and b the instants of the start
-- of `from` and of the day after `to`; sla the sla_minutes setting.
--
-- Named to sort after common.sql (business_timezone()): files apply in name order.
-- Repeatable file (docs/architecture.md, "Migrations and sql/schema").
CREATE OR REPLACE FUNCTION analytics_range(p_from date, p_to date)
RETURNS TABLE (f date, t date, sla int, a timestamptz, b timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH s AS (SELECT business_timezone() AS tz,
                    coalesce((SELECT (value #>> '{}')::int FROM settings
                               WHERE key = 'sla_minutes'), 120) AS sla),
       d AS (SELECT coalesce(p_from, (now() AT TIME ZONE s.tz)::date) AS f,
                    coalesce(p_to, (now() AT TIME ZONE s.tz)::date) AS t, s.tz, s.sla FROM s)
  SELECT d.f, d.t, d.sla, d.f::timestamp AT TIME ZONE d.tz,
         (d.t + 1)::timestamp AT TIME ZONE d.tz
    FROM d
$$;
