-- The search index's upkeep (src/service/search_indexer.c): the backlog of
-- changed orders is drained into order_search (order_search_drain() in
-- sql/schema/order_search.sql) by the indexer thread.

-- One transaction of the drain; answers how many rows moved.
-- name: order_search_drain
-- $1 the most backlog rows to move
SELECT order_search_drain($1::int);

-- Every search scans the backlog: its dead rows are vacuumed away after a
-- drain (without truncating, which would lock searches out for a moment;
-- skipped with a warning by PostgreSQL when another role owns it).
-- name: order_search_vacuum_backlog
VACUUM (TRUNCATE false) order_search_backlog;

-- New trigram (and 6-digit window) entries wait in each GIN index's
-- pending list (fastupdate), which every search reads in full: merged here
-- in the background. Needs the indexes' owner (42501 otherwise).
-- name: order_search_merge_pending
SELECT gin_clean_pending_list('order_search_text_trgm_idx'::regclass),
 gin_clean_pending_list('order_search_phone_trgm_idx'::regclass),
 gin_clean_pending_list('order_search_digit_grams_idx'::regclass);
