-- pgbench reference for GET /api/v1/orders?q=<6 digits> (an admin): a q of
-- 4+ digits (and only phone characters) searches both the haystack and the
-- phone digits, and a q of 6+ digits first looks up its first and last
-- 6-digit windows (migration 0014). Run with -D pat=%123456%
-- -D dpat=%123456% -D grams={123456,123456} (what src/api/order_filters.c
-- passes for q=123456). The daemon runs it on its generic plan, planned once
-- per connection (db_query_generic_or_reply); bench/orders.sh gives pgbench
-- PGOPTIONS="-c plan_cache_mode=force_generic_plan" to do the same.
\set size 50
\set off 0
\set page 1
SELECT json_build_object('items', coalesce((SELECT json_agg(x.body ORDER BY x.rn) FROM (SELECT order_body(o) AS body, row_number() OVER (ORDER BY o.created_at DESC, o.id DESC) AS rn  FROM orders o WHERE TRUE AND o.id IN (SELECT s.order_id FROM (SELECT s.order_id, s.search_text, s.phone_digits FROM order_search s WHERE digit_grams(s.search_text, s.phone_digits) @> :grams::int[] OFFSET 0) s WHERE s.search_text LIKE lower(:pat) OR s.phone_digits LIKE :dpat UNION ALL SELECT b.order_id FROM order_search_backlog b WHERE (SELECT search_text(x) LIKE lower(:pat) OR phone_digits(x) LIKE :dpat FROM orders x WHERE x.id = b.order_id)) AND NOT o.is_archived ORDER BY o.created_at DESC, o.id DESC LIMIT :size OFFSET :off) x), '[]'::json), 'page', :page::int, 'page_size', :size::int, 'total', (SELECT count(*) FROM orders o WHERE TRUE AND o.id IN (SELECT s.order_id FROM (SELECT s.order_id, s.search_text, s.phone_digits FROM order_search s WHERE digit_grams(s.search_text, s.phone_digits) @> :grams::int[] OFFSET 0) s WHERE s.search_text LIKE lower(:pat) OR s.phone_digits LIKE :dpat UNION ALL SELECT b.order_id FROM order_search_backlog b WHERE (SELECT search_text(x) LIKE lower(:pat) OR phone_digits(x) LIKE :dpat FROM orders x WHERE x.id = b.order_id)) AND NOT o.is_archived));
