-- orders.search_text and orders.phone_digits were stored generated columns:
-- computed (a regexp_replace and a lower() of eight fields) and stored on
-- every INSERT and every UPDATE, status changes included, although since
-- 0006 only the writers of order_search read them. They become two
-- functions of the row, called where order_search is written and where the
-- `q` filter reads the orders still in the backlog (0009).
--
-- The functions have the columns' names on purpose: PostgreSQL reads
-- `x.search_text`, with no such column, as `search_text(x)` (attribute
-- notation). The previous release's `q` filter says `x.search_text` and
-- `x.phone_digits` on orders, so it keeps working during a rolling restart
-- (docs/operations.md: old and new binaries share the new schema).
--
-- Measured before this change: about 15 ms of each 2,000-row chunk of an
-- import at 1 M orders (EXPLAIN, rolled back), and about 110 bytes of each
-- orders row.

CREATE FUNCTION phone_digits(o orders) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT regexp_replace(coalesce(o.customer_phone, ''), '[^0-9]', '', 'g') $$;

-- chr(1) separates fields so a match cannot span two.
CREATE FUNCTION search_text(o orders) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT lower(o.order_number
               || chr(1) || coalesce(o.customer_name, '')
               || chr(1) || coalesce(o.delivery_address, '')
               || chr(1) || coalesce(o.area, '')
               || chr(1) || coalesce(o.block, '')
               || chr(1) || coalesce(o.street, '')
               || chr(1) || coalesce(o.building, '')
               || chr(1) || coalesce(o.paci_number, ''))
$$;

CREATE OR REPLACE FUNCTION order_search_added() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF current_setting('deliveryd.search_backlog', true) = 'on' THEN
    INSERT INTO order_search_backlog (order_id) SELECT id FROM added;
  ELSE
    INSERT INTO order_search (order_id, search_text, phone_digits)
    SELECT a.id, search_text(a), phone_digits(a) FROM added a;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION order_search_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO order_search (order_id, search_text, phone_digits)
  VALUES (NEW.id, search_text(NEW), phone_digits(NEW))
  ON CONFLICT (order_id) DO UPDATE
    SET search_text = excluded.search_text, phone_digits = excluded.phone_digits;
  RETURN NULL;
END
$$;

DROP TRIGGER orders_search_changed ON orders;
CREATE TRIGGER orders_search_changed
  AFTER UPDATE OF order_number, customer_name, customer_phone, delivery_address, area, block,
                  street, building, paci_number ON orders
  FOR EACH ROW
  WHEN (search_text(OLD) IS DISTINCT FROM search_text(NEW)
        OR phone_digits(OLD) IS DISTINCT FROM phone_digits(NEW))
  EXECUTE FUNCTION order_search_changed();

CREATE OR REPLACE FUNCTION order_search_drain(max_rows int) RETURNS bigint
LANGUAGE sql
AS $$
  WITH b AS (
    DELETE FROM order_search_backlog
     WHERE ctid = ANY (ARRAY(SELECT ctid FROM order_search_backlog
                              LIMIT max_rows FOR UPDATE SKIP LOCKED))
    RETURNING order_id),
  o AS (
    SELECT o.id, search_text(o) AS search_text, phone_digits(o) AS phone_digits
      FROM orders o
     WHERE o.id IN (SELECT order_id FROM b)
     ORDER BY o.id FOR KEY SHARE),
  ins AS (
    INSERT INTO order_search (order_id, search_text, phone_digits)
    SELECT id, search_text, phone_digits FROM o
    ON CONFLICT (order_id) DO NOTHING)
  SELECT count(*) FROM b
$$;

-- api_orders selects o.*, so it names the two columns: rebuilt around the
-- drop, with the same definition.
DROP VIEW api_orders;
ALTER TABLE orders DROP COLUMN search_text, DROP COLUMN phone_digits;
CREATE VIEW api_orders AS
SELECT o.*,
       delivery_seconds(o) AS delivery_time_seconds,
       order_body(o) AS body
FROM orders o;
