-- An import's orders get their search trigrams just after it commits.
--
-- Filling the two trigram GIN indexes of order_search was about 0.5 s of a
-- 20,000-row import (trigram extraction and one GIN entry per trigram),
-- inside the transaction the manager waits for. Now the import's
-- transaction sets deliveryd.search_backlog = 'on' and its new orders' ids
-- go to order_search_backlog instead; the daemon's search indexer moves them
-- into order_search (order_search_drain) right after the commit.
--
-- Search stays exact meanwhile: the `q` filter matches order_search and,
-- through orders' own search_text / phone_digits, the orders still in the
-- backlog. Every committed order is in one of the two.
CREATE TABLE order_search_backlog (
  order_id bigint NOT NULL
);

CREATE OR REPLACE FUNCTION order_search_added() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF current_setting('deliveryd.search_backlog', true) = 'on' THEN
    INSERT INTO order_search_backlog (order_id) SELECT id FROM added;
  ELSE
    INSERT INTO order_search (order_id, search_text, phone_digits)
    SELECT id, search_text, phone_digits FROM added;
  END IF;
  RETURN NULL;
END
$$;

-- An edit of an order still in the backlog writes its row now (the drain
-- then leaves that row alone), so an edit is never lost to the drain having
-- read the order before it.
CREATE OR REPLACE FUNCTION order_search_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO order_search (order_id, search_text, phone_digits)
  VALUES (NEW.id, NEW.search_text, NEW.phone_digits)
  ON CONFLICT (order_id) DO UPDATE
    SET search_text = excluded.search_text, phone_digits = excluded.phone_digits;
  RETURN NULL;
END
$$;

-- Moves up to max_rows orders from the backlog into order_search; returns
-- how many left the backlog. Two drains at once do not collide: the second
-- skips the rows the first holds. An order edited meanwhile already has its
-- row (order_search_changed), which DO NOTHING keeps.
CREATE FUNCTION order_search_drain(max_rows int) RETURNS bigint
LANGUAGE sql
AS $$
  WITH b AS (
    DELETE FROM order_search_backlog
     WHERE ctid IN (SELECT ctid FROM order_search_backlog LIMIT max_rows FOR UPDATE SKIP LOCKED)
    RETURNING order_id),
  ins AS (
    INSERT INTO order_search (order_id, search_text, phone_digits)
    SELECT o.id, o.search_text, o.phone_digits FROM orders o
     WHERE o.id IN (SELECT order_id FROM b)
    ON CONFLICT (order_id) DO NOTHING)
  SELECT count(*) FROM b
$$;
