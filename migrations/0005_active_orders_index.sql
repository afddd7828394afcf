-- The live map (every 5 s from every dashboard) and the suggestions count
-- each driver's assigned + picked-up orders; this partial index holds just
-- those rows, so the count is an index-only scan of the active orders
-- instead of a pass over the driver's whole history.
CREATE INDEX orders_active_driver_idx ON orders (driver_id)
  WHERE status IN ('assigned', 'picked_up');
