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

-- On time, once: a delivery is on time when it came by its estimated
-- delivery time, or, without one, within sla_minutes (p_sla) of the order's
-- creation. analytics (on_time_rate), the suggestions' history in an area
-- and the backtest (sql/schema/suggestions.sql, sql/queries/analytics.sql).
-- STABLE, not IMMUTABLE (timestamptz + interval is STABLE), so it is
-- inlined into the statements that call it.
CREATE OR REPLACE FUNCTION order_on_time(p_delivered_at timestamptz, p_eta timestamptz,
                                         p_created_at timestamptz, p_sla int) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT p_delivered_at <= coalesce(p_eta, p_created_at + make_interval(mins => p_sla)) $$;
