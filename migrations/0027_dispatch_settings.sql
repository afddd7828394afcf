-- Dispatch aids (issue 20): the settings of the suggestions' new factors
-- and of the assignment warnings, the two new weights, and the index the
-- suggestions' area history reads.
--
--   driver_cash_limit          money string (KWD, 3 places): the cash a
--                              driver may hold; the suggestions' cash factor
--                              is 1 - held / limit (0 at or over it), and
--                              assign warns with cash_over_limit over it
--   suggestion_history_days    how far back the suggestions (and the
--                              backtest) count a driver's deliveries in an area
--   assign_warn_distance_km    assign warns far_from_delivery beyond this
--   assign_warn_active_orders  assign warns driver_overloaded beyond this
INSERT INTO settings (key, value) VALUES
  ('driver_cash_limit',          '"100.000"'),
  ('suggestion_history_days',    '90'),
  ('assign_warn_distance_km',    '10'),
  ('assign_warn_active_orders',  '6')
ON CONFLICT (key) DO NOTHING;

-- The new factors' weights; a value an admin already set keeps its keys
-- (the right-hand side of || wins).
UPDATE settings SET value = '{"history": 0.3, "cash": 0.1}'::jsonb || value
 WHERE key = 'suggestion_weights' AND jsonb_typeof(value) = 'object';

-- A driver's deliveries in an area over the last suggestion_history_days,
-- for every candidate at once: one range of this index (area as written,
-- case-insensitive), read without the heap: the INCLUDE columns are what
-- the on-time rule needs, and area itself, without which PostgreSQL plans
-- no index-only scan on lower(area) (it wants every column the query
-- names). Partial: only delivered orders are history.
CREATE INDEX orders_area_delivered_idx ON orders (lower(area), delivered_at)
  INCLUDE (driver_id, estimated_delivery_time, created_at, area)
  WHERE status = 'delivered';
