-- The trigram indexes of the search move off `orders` into a side table.
--
-- Every status change is a non-HOT update (status is in several indexes),
-- so each one inserted the whole row's trigrams into both GIN indexes again,
-- and now and then paid for flushing the GIN pending list: a batch-cancel of
-- 500 orders spent about a third of its UPDATE there. The searchable text
-- changes only when the customer or address fields do, so it lives in
-- `order_search`, written when an order is inserted and when those fields
-- change, and status changes never touch it.
CREATE TABLE order_search (
  order_id     bigint PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
  search_text  text NOT NULL,
  phone_digits text NOT NULL
);

INSERT INTO order_search (order_id, search_text, phone_digits)
SELECT id, search_text, phone_digits FROM orders;

CREATE INDEX order_search_text_trgm_idx ON order_search USING gin (search_text gin_trgm_ops);
CREATE INDEX order_search_phone_trgm_idx ON order_search USING gin (phone_digits gin_trgm_ops);
DROP INDEX orders_search_text_trgm_idx;
DROP INDEX orders_phone_digits_trgm_idx;

-- New orders, one statement per INSERT (an import's 20,000 rows are one).
CREATE FUNCTION order_search_added() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO order_search (order_id, search_text, phone_digits)
  SELECT id, search_text, phone_digits FROM added;
  RETURN NULL;
END
$$;

CREATE TRIGGER orders_search_added AFTER INSERT ON orders
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT
  EXECUTE FUNCTION order_search_added();

-- Edited orders: only when a column the search text is made of is set
-- (PATCH, an import's update), and only when the text really changed.
CREATE FUNCTION order_search_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE order_search SET search_text = NEW.search_text, phone_digits = NEW.phone_digits
   WHERE order_id = NEW.id;
  RETURN NULL;
END
$$;

CREATE TRIGGER orders_search_changed
  AFTER UPDATE OF order_number, customer_name, customer_phone, delivery_address, area, block,
                  street, building, paci_number ON orders
  FOR EACH ROW
  WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text
        OR OLD.phone_digits IS DISTINCT FROM NEW.phone_digits)
  EXECUTE FUNCTION order_search_changed();
