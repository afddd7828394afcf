-- order_search_drain() again (0009), with two changes from review:
--
-- 1. It locks the orders it indexes FOR KEY SHARE, in id order, before
--    inserting. The FK check of each new order_search row takes that lock
--    anyway, but at the end of the statement and in no particular order, so
--    a drain could deadlock with a batch action locking the same orders in
--    id order. (Order writes now lock FOR NO KEY UPDATE, which KEY SHARE
--    does not wait for; the ordering keeps the drain safe against anything
--    that still locks FOR UPDATE.)
-- 2. The rows it takes from the backlog are chosen once (= ANY(ARRAY(...)))
--    rather than by an IN subquery the planner may run again, so max_rows
--    is a firm bound.
CREATE OR REPLACE FUNCTION order_search_drain(max_rows int) RETURNS bigint
LANGUAGE sql
AS $$
  WITH b AS (
    DELETE FROM order_search_backlog
     WHERE ctid = ANY (ARRAY(SELECT ctid FROM order_search_backlog
                              LIMIT max_rows FOR UPDATE SKIP LOCKED))
    RETURNING order_id),
  o AS (
    SELECT o.id, o.search_text, o.phone_digits FROM orders o
     WHERE o.id IN (SELECT order_id FROM b)
     ORDER BY o.id FOR KEY SHARE),
  ins AS (
    INSERT INTO order_search (order_id, search_text, phone_digits)
    SELECT id, search_text, phone_digits FROM o
    ON CONFLICT (order_id) DO NOTHING)
  SELECT count(*) FROM b
$$;
