-- Driver suggestions, once: how a candidate driver is scored and how the
-- score is explained. The live suggestions (GET /orders/{id}/suggestions,
-- sql/queries/analytics.sql suggestions_for_order) and the backtest
-- (analytics_suggestion_backtest, GET /analytics/suggestions/backtest and
-- `deliveryd suggest-backtest`) both call suggestion_score(), so what the
-- backtest measures is what dispatchers are shown.
--
-- Every factor is a number in [0, 1], weighted by the suggestion_weights
-- setting (a missing key takes the default below, so an object with only
-- the three keys of v1 stays valid and means what it meant, plus the new
-- factors at their defaults):
--   online    1 online with a fresh position, 0.5 online with a stale one,
--             0 offline                                           (0.2)
--   distance  1 / (1 + km) to the delivery point; 0 when unknown  (0.5)
--   load      1 / (1 + active orders)                             (0.3)
--   history   on time / (deliveries + 1) in the order's area over
--             suggestion_history_days: 19 of 20 -> 0.90, 1 of 1 -> 0.5,
--             none -> 0, so evidence counts as well as the rate   (0.3)
--   cash      1 - cash held / driver_cash_limit, 0 at or over it  (0.1)
-- The time left in a work session is not a factor: a session has no
-- planned end (work_sessions has started_at and ended_at only), so there is
-- nothing to count down from.
--
-- Named to sort after common.sql, order_rules.sql and order_stats.sql.
-- Repeatable file (docs/architecture.md, "Migrations and sql/schema").

-- Great-circle distance in km (haversine); NULL when a point is unknown.
CREATE OR REPLACE FUNCTION distance_km(lat1 float8, lng1 float8, lat2 float8, lng2 float8)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT 6371 * 2 * asin(sqrt(power(sin(radians(lat2 - lat1) / 2), 2)
         + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2)))
$$;

CREATE OR REPLACE FUNCTION suggestion_score(p_weights jsonb, p_online boolean, p_fresh boolean,
                                            p_km float8, p_active bigint, p_delivered bigint,
                                            p_on_time bigint, p_cash numeric, p_cash_limit numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT round((
      coalesce((p_weights ->> 'online')::float8, 0.2)
        * CASE WHEN p_online AND p_fresh THEN 1 WHEN p_online THEN 0.5 ELSE 0 END
    + coalesce((p_weights ->> 'distance')::float8, 0.5) * coalesce(1 / (1 + p_km), 0)
    + coalesce((p_weights ->> 'load')::float8, 0.3) / (1 + coalesce(p_active, 0))
    + coalesce((p_weights ->> 'history')::float8, 0.3)
        * coalesce(p_on_time, 0)::float8 / (coalesce(p_delivered, 0) + 1)
    + coalesce((p_weights ->> 'cash')::float8, 0.1)
        * CASE WHEN p_cash_limit > 0
               THEN greatest(0, 1 - coalesce(p_cash, 0) / p_cash_limit)::float8 ELSE 1 END
  )::numeric, 4)
$$;

-- An age in words: "40 s", "25 min", "3 h", "2 days".
CREATE OR REPLACE FUNCTION age_words(p_secs float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN p_secs < 60 THEN greatest(floor(p_secs), 0)::int || ' s'
              WHEN p_secs < 3600 THEN floor(p_secs / 60)::int || ' min'
              WHEN p_secs < 172800 THEN floor(p_secs / 3600)::int || ' h'
              ELSE floor(p_secs / 86400)::int || ' days' END
$$;

-- Each factor of suggestion_score() in words, with its figure, in the
-- order: presence, position age (only when stale or missing), distance,
-- load, history, cash. p_age_secs is the position's age (NULL: none).
CREATE OR REPLACE FUNCTION suggestion_reasons(p_online boolean, p_fresh boolean,
                                              p_age_secs float8, p_km float8, p_active bigint,
                                              p_area text, p_days int, p_delivered bigint,
                                              p_on_time bigint, p_cash numeric,
                                              p_cash_limit numeric)
RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT json_agg(r ORDER BY i) FROM (VALUES
    (1, CASE WHEN p_online THEN 'online' ELSE 'offline' END),
    (2, CASE WHEN p_age_secs IS NULL THEN 'no position reported'
             WHEN NOT p_fresh THEN 'position ' || age_words(p_age_secs) || ' old' END),
    (3, CASE WHEN p_km IS NULL THEN 'distance unknown'
             ELSE round(p_km::numeric, 1) || ' km away' END),
    (4, coalesce(p_active, 0) || ' active order'
        || CASE WHEN coalesce(p_active, 0) = 1 THEN '' ELSE 's' END),
    (5, CASE WHEN p_area IS NULL OR btrim(p_area) = '' THEN 'no area on the order, so no history'
             WHEN coalesce(p_delivered, 0) = 0 THEN 'no deliveries in ' || p_area || ' yet'
             ELSE 'on time ' || coalesce(p_on_time, 0) || ' of ' || p_delivered || ' in '
                  || p_area || ' (' || p_days || ' days)' END),
    (6, 'holds ' || coalesce(p_cash, 0)::numeric(12,3) || ' KWD cash'
        || CASE WHEN p_cash_limit > 0 THEN ' (limit ' || p_cash_limit::numeric(12,3) || ')'
                ELSE '' END)
  ) AS x(i, r) WHERE r IS NOT NULL
$$;
