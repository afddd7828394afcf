-- The search side table order_search (tables: migrations 0006, 0009, 0014):
-- the functions its text is made of, the triggers that keep it in step with
-- orders, and the drain of the import backlog. Repeatable file: see
-- common.sql.
--
-- The search text and phone digits are functions of the row with the names
-- the old generated columns had: PostgreSQL reads `x.search_text`, with no
-- such column, as `search_text(x)` (attribute notation), so SQL written
-- against the columns keeps working.
--
-- digit_grams() is the expression of the GIN index
-- order_search_digit_grams_idx: changing what it returns needs a REINDEX of
-- that index in a numbered migration, or the index answers wrongly.

CREATE OR REPLACE FUNCTION phone_digits(o orders) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT regexp_replace(coalesce(o.customer_phone, ''), '[^0-9]', '', 'g') $$;

-- chr(1) separates fields so a match cannot span two.
CREATE OR REPLACE FUNCTION search_text(o orders) RETURNS text
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

-- Every 6-digit window of every run of 6+ digits in the search text and the
-- phone digits, as integers (each window is exactly six digits, so 012345
-- and 12345 cannot be confused). A digit string of 6+ characters that
-- occurs in either text lies inside one such run, so a row that matches it
-- has all of its windows: the `q` filter (order_filters.c) asks for those
-- with `@>` and keeps its LIKE as the exact test.
CREATE OR REPLACE FUNCTION digit_grams(search_text text, phone_digits text) RETURNS int[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT coalesce(array_agg(DISTINCT substr(m[1], i, 6)::int), '{}')
    FROM regexp_matches(coalesce(search_text, '') || ' ' || coalesce(phone_digits, ''),
                        '([0-9]{6,})', 'g') AS m,
         generate_series(1, length(m[1]) - 5) AS i
$$;

-- New orders, one statement per INSERT (an import's 20,000 rows are one).
-- An import's transaction sets deliveryd.search_backlog = 'on': its new
-- orders' ids go to order_search_backlog instead, and the daemon's search
-- indexer moves them into order_search (order_search_drain) right after the
-- commit, so the trigram work is not inside the transaction the manager
-- waits for.
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

CREATE OR REPLACE TRIGGER orders_search_added AFTER INSERT ON orders
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT
  EXECUTE FUNCTION order_search_added();

-- Edited orders: only when a column the search text is made of is set
-- (PATCH, an import's update), and only when the text really changed. An
-- edit of an order still in the backlog writes its row now (the drain then
-- leaves that row alone), so an edit is never lost to the drain having read
-- the order before it.
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

CREATE OR REPLACE TRIGGER orders_search_changed
  AFTER UPDATE OF order_number, customer_name, customer_phone, delivery_address, area, block,
                  street, building, paci_number ON orders
  FOR EACH ROW
  WHEN (search_text(OLD) IS DISTINCT FROM search_text(NEW)
        OR phone_digits(OLD) IS DISTINCT FROM phone_digits(NEW))
  EXECUTE FUNCTION order_search_changed();

-- Moves up to max_rows orders from the backlog into order_search; returns
-- how many left the backlog. Two drains at once do not collide: the second
-- skips the rows the first holds. An order edited meanwhile already has its
-- row (order_search_changed), which DO NOTHING keeps.
--
-- It locks the orders it indexes FOR KEY SHARE, in id order, before
-- inserting: the FK check of each new order_search row takes that lock
-- anyway, but at the end of the statement and in no particular order, so a
-- drain could deadlock with a batch action locking the same orders in id
-- order. The backlog rows are chosen once (= ANY(ARRAY(...))) rather than by
-- an IN subquery the planner may run again, so max_rows is a firm bound.
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
