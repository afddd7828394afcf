-- Fewer pages touched per order write (docs/performance.md, "Write
-- locality").
--
-- 1. Room on each page for the next version of its orders. Every status
--    change is a non-HOT update (status is in several indexes); at the
--    default fillfactor of 100 the new version lands on some other page, so
--    a batch-cancel of 500 orders dirtied (and, after a checkpoint, wrote
--    whole into the WAL) about 900 heap pages instead of 500. An order is
--    updated 3-6 times in its life. Pages already full keep their rows until
--    a rewrite (VACUUM FULL / pg_repack); new pages follow the setting.
ALTER TABLE orders SET (fillfactor = 85);

-- 2. The tracking token starts with the creation time in microseconds
--    (14 hex digits) and goes on with 50 hex digits cut from two version-4
--    UUIDs (188 random bits; the UUIDs' version and variant bits are not
--    random), 64 characters as before. A purely random token put each new order's entry on a random
--    leaf of orders_tracking_token_key: an import of 20,000 rows touched
--    ~20,000 leaves, and every later update of a recent order (a non-HOT
--    update inserts into every index) dirtied one more random leaf. Time
--    order keeps a day's orders on a few adjacent leaves. The time prefix
--    tells nothing the order's own /track page does not; the secret is the
--    random part.
ALTER TABLE orders ALTER COLUMN tracking_token SET DEFAULT
  lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000000)::bigint), 14, '0')
  || substr(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'hex'), 1, 50);
