-- Orders: the public JSON (order_body(), api_orders), the order number of a
-- manual order, the updated_at trigger and the SLA reset. The search side
-- table's functions and triggers are in order_search.sql.
-- Repeatable file: see common.sql.

-- POST /orders without order_number gets MAN-<zero-padded id>. Done here
-- because the id comes from the identity default, which is evaluated before
-- BEFORE triggers; this keeps creation one statement. Width 6, growing past
-- 999999 rather than truncating.
CREATE OR REPLACE FUNCTION orders_fill_order_number() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF NEW.order_number IS NULL THEN
    NEW.order_number := 'MAN-' || lpad(NEW.id::text, greatest(6, length(NEW.id::text)), '0');
  END IF;
  RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER orders_fill_order_number BEFORE INSERT ON orders
  FOR EACH ROW WHEN (NEW.order_number IS NULL) EXECUTE FUNCTION orders_fill_order_number();

CREATE OR REPLACE TRIGGER orders_set_updated_at BEFORE UPDATE ON orders
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A late order is reported again after its delivery time moves: a new
-- estimated_delivery_time clears sla_notified_at (and sla-check's one
-- breach notification per manager, order and deadline puts the deadline
-- that passed in data.due_at).
CREATE OR REPLACE FUNCTION order_eta_resets_sla() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.sla_notified_at := NULL;
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER orders_eta_resets_sla
  BEFORE UPDATE OF estimated_delivery_time ON orders
  FOR EACH ROW WHEN (OLD.estimated_delivery_time IS DISTINCT FROM NEW.estimated_delivery_time
                     AND OLD.sla_notified_at IS NOT NULL)
  EXECUTE FUNCTION order_eta_resets_sla();

-- One definition of the public order JSON, usable on any orders row:
-- by the api_orders view and by RETURNING of the state-changing statements
-- (so an action answers with the updated order in the same round trip).

CREATE OR REPLACE FUNCTION delivery_seconds(o orders) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT floor(extract(epoch FROM o.delivered_at - o.picked_up_at))::bigint $$;

CREATE OR REPLACE FUNCTION order_body(o orders) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT json_build_object(
  'id',                      o.id,
  'order_number',            o.order_number,
  'source',                  o.source,
  'status',                  o.status,
  'warehouse_id',            o.warehouse_id,
  'driver_id',               o.driver_id,
  'customer_name',           o.customer_name,
  'customer_phone',          o.customer_phone,
  'delivery_address',        o.delivery_address,
  'area',                    o.area,
  'block',                   o.block,
  'street',                  o.street,
  'avenue',                  o.avenue,
  'building',                o.building,
  'floor',                   o.floor,
  'apartment',               o.apartment,
  'paci_number',             o.paci_number,
  'delivery_latitude',       o.delivery_latitude,
  'delivery_longitude',      o.delivery_longitude,
  -- 'order' (given), 'learned' (learned_point(), where_delivered.sql) or NULL
  'coordinates_source',      o.coordinates_source,
  'customer_info',           o.customer_info,
  -- numeric(12,3)::text always prints three places: "12.500".
  'amount',                  o.amount::text,
  'payment_method',          o.payment_method,
  'notes',                   o.notes,
  'failure_reason',          o.failure_reason,
  'failure_reason_code',     o.failure_reason_code,
  'cancel_reason',           o.cancel_reason,
  'estimated_delivery_time', api_ts(o.estimated_delivery_time),
  'assigned_at',             api_ts(o.assigned_at),
  'picked_up_at',            api_ts(o.picked_up_at),
  'delivered_at',            api_ts(o.delivered_at),
  'failed_at',               api_ts(o.failed_at),
  'cancelled_at',            api_ts(o.cancelled_at),
  'returned_at',             api_ts(o.returned_at),
  'delivery_time_seconds',   delivery_seconds(o),
  -- "HH:MM"; hours keep growing past 24 (and past 99) instead of
  -- wrapping or being cut by lpad.
  'delivery_time',
    CASE WHEN delivery_seconds(o) IS NOT NULL THEN
      CASE WHEN delivery_seconds(o) < 0 THEN '-' ELSE '' END
      || lpad((abs(delivery_seconds(o)) / 3600)::text,
              greatest(2, length((abs(delivery_seconds(o)) / 3600)::text)), '0')
      || ':'
      || lpad((abs(delivery_seconds(o)) % 3600 / 60)::text, 2, '0')
    END,
  'is_archived',             o.is_archived,
  'archived_at',             api_ts(o.archived_at),
  'tracking_token',          o.tracking_token,
  'created_at',              api_ts(o.created_at),
  'updated_at',              api_ts(o.updated_at),
  'version',                 o.version
)
$$;

-- Dropped and created, not replaced: o.* is expanded when the view is
-- created, so a column added to orders by a numbered migration appears here
-- the next time this file is applied (see warehouses.sql). A numbered
-- migration that drops or retypes an orders column must DROP VIEW
-- api_orders first; this file, applied later in the same migrate run,
-- creates it again.
DROP VIEW IF EXISTS api_orders;
CREATE VIEW api_orders AS
SELECT o.*,
       delivery_seconds(o) AS delivery_time_seconds,
       order_body(o) AS body
FROM orders o;
