-- Dispatch aids (issue 20): learned coordinates and the proofs' history.
--
-- orders.coordinates_source: where delivery_latitude/longitude came from:
-- 'order' (given by POST/PATCH /orders, the import or the D365 webhook),
-- 'learned' (learned_point() of sql/schema/where_delivered.sql, from where
-- earlier deliveries to the same phone and address were completed), NULL
-- when the order has none. Existing coordinates were all given; the data
-- move does not touch updated_at (the trigger is off for it).
ALTER TABLE orders ADD COLUMN coordinates_source text
  CHECK (coordinates_source IN ('order', 'learned'));
ALTER TABLE orders DISABLE TRIGGER orders_set_updated_at;
UPDATE orders SET coordinates_source = 'order' WHERE delivery_latitude IS NOT NULL;
ALTER TABLE orders ENABLE TRIGGER orders_set_updated_at;

-- Where a delivery was completed: the driver's fresh position when the
-- order was delivered (the deliver statement, src/service/order_actions.c)
-- or the driver_locations point nearest delivered_at (the backfill, cron
-- learn-coordinates), for the customer's phone and address_key(). One row
-- per order: the unique order_id makes the backfill idempotent.
CREATE TABLE customer_places (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  phone text NOT NULL,
  address_key text NOT NULL,
  latitude float8 NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude float8 NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  order_id bigint NOT NULL UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
  driver_id bigint REFERENCES drivers (id) ON DELETE SET NULL,
  delivered_at timestamptz NOT NULL
);
-- learned_point(): the last deliveries to one phone and address, newest first.
CREATE INDEX customer_places_key_idx
  ON customer_places (phone, address_key, delivered_at DESC, id DESC);

-- A new proof no longer replaces the old one: every upload is a row, and
-- GET /orders/{id}/proof answers the latest with the earlier ones.
ALTER TABLE proofs DROP CONSTRAINT proofs_order_id_key;
CREATE INDEX proofs_order_captured_idx ON proofs (order_id, captured_at DESC, id DESC);
