-- bench/seed_orders.sql: realistic Kuwaiti delivery data for the benchmarks.
--
--   psql -v n=1000000 -f bench/seed_orders.sql        (n defaults to 1,000,000)
--
-- Adds 12 warehouses (BW-*), 40 drivers (users bench_drv_NN with an unusable
-- password hash, drivers DRV-NNN, ~60% online with a recent position) and n
-- orders created over the last 90 days (ids in time order, as a live system
-- fills the table): ~200,000 repeat customers with '+965' phones (8 digits
-- starting 5, 6 or 9), Arabic and English names, Kuwaiti areas with block /
-- street / building / PACI. Orders older than a day are finished (delivered
-- 88%, cancelled 5%, returned 4%, failed 3%); the last day is a live mix
-- (pending, assigned, picked_up, ...). Timestamps follow the state machine
-- and the table's CHECKs (a driver on assigned/picked_up/delivered, none on
-- pending). Nothing is archived: the worst case for the default list (as if
-- the archive cron never ran). No history rows are generated.
--
-- Secondary indexes of orders are dropped during the load and rebuilt from
-- their own definitions (pg_get_indexdef), which is several times faster than
-- maintaining two trigram GIN indexes row by row; then VACUUM ANALYZE, so the
-- benchmark is not disturbed by autovacuum catching up on a million rows.

\set ON_ERROR_STOP on
\if :{?n}
\else
  \set n 1000000
\endif
\timing on

SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';

BEGIN;

INSERT INTO warehouses (code, name, address, latitude, longitude)
SELECT w.code, w.name, w.address, w.lat, w.lng
FROM (VALUES
  ('BW-SLM', 'Salmiya Hub',        'Block 10, Salem Al-Mubarak St, Salmiya', 29.3339, 48.0761),
  ('BW-HWL', 'Hawalli Store',      'Block 2, Tunis St, Hawalli',             29.3328, 48.0286),
  ('BW-JAB', 'Jabriya Clinic DC',  'Block 1A, Jabriya',                       29.3150, 48.0300),
  ('BW-FRW', 'Farwaniya Hub',      'Block 4, Farwaniya',                      29.2775, 47.9586),
  ('BW-KWC', 'Kuwait City Central', 'Fahad Al-Salem St, Kuwait City',         29.3759, 47.9774),
  ('BW-JHR', 'Jahra Depot',        'Block 3, Jahra',                          29.3375, 47.6581),
  ('BW-FHL', 'Fahaheel Store',     'Block 9, Fahaheel',                       29.0825, 48.1303),
  ('BW-MNG', 'Mangaf Depot',       'Block 4, Mangaf',                         29.0961, 48.1322),
  ('BW-SHW', 'Shuwaikh Warehouse', 'Shuwaikh Industrial Area',                29.3500, 47.9400),
  ('BW-MSH', 'Mishref Store',      'Block 5, Mishref',                        29.2750, 48.0650),
  ('BW-ARD', 'Ardiya Warehouse',   'Ardiya Industrial Area',                  29.2930, 47.9050),
  ('BW-SBS', 'Sabah Al-Salem Hub', 'Block 6, Sabah Al-Salem',                 29.2570, 48.0570)
) AS w(code, name, address, lat, lng)
ON CONFLICT (code) DO NOTHING;

-- 40 drivers; driver k works for warehouse k % 12 (by code order).
WITH wh AS (SELECT array_agg(id ORDER BY code) AS ids FROM warehouses WHERE code LIKE 'BW-%'),
names AS (SELECT ARRAY['Ahmad Al-Enezi', 'Mohammed Al-Ajmi', 'Abdullah Al-Mutairi', 'Rajesh Kumar',
                       'Faisal Al-Shammari', 'Sameer Khan', 'Yousef Al-Rashidi', 'Anil Thomas',
                       'Khaled Al-Azmi', 'Imran Qureshi', 'Hamad Al-Harbi', 'John Mathew',
                       'محمد العنزي', 'عبدالله المطيري', 'فهد الرشيدي', 'Suresh Nair',
                       'Bader Al-Otaibi', 'Ali Hassan', 'Nasser Al-Dosari', 'Joseph Fernandes'] AS a),
u AS (
  INSERT INTO users (username, password_hash, full_name, role, phone)
  SELECT format('bench_drv_%s', lpad(k::text, 2, '0')), '$argon2id$x',
         (SELECT a[1 + k % array_length(a, 1)] FROM names) || CASE WHEN k >= 20 THEN ' ' || (k / 20 + 1)::text ELSE '' END,
         'driver', '+9656' || lpad((5000000 + k * 7919)::text, 7, '0')
  FROM generate_series(0, 39) k
  ON CONFLICT DO NOTHING
  RETURNING id, username
)
INSERT INTO drivers (user_id, code, phone, vehicle_type, warehouse_id, is_online,
                     last_latitude, last_longitude, last_recorded_at, last_seen_at)
SELECT u.id, format('DRV-%s', lpad(k::text, 3, '0')), '+9656' || lpad((5000000 + k * 7919)::text, 7, '0'),
       (ARRAY['motorcycle', 'car', 'car', 'van'])[1 + k % 4],
       wh.ids[1 + k % 12],
       k % 5 <> 0 AND k % 5 <> 3,
       29.30 + (k % 10) * 0.01, 47.95 + (k % 7) * 0.015,
       now() - (k % 9) * interval '1 minute', now() - (k % 9) * interval '1 minute'
FROM u
CROSS JOIN wh
CROSS JOIN LATERAL (SELECT substr(u.username, 11)::int AS k) kk;

-- Drop the secondary indexes of orders (not the ones behind constraints);
-- their definitions are kept to rebuild them after the load.
CREATE TEMP TABLE seed_index_defs ON COMMIT DROP AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
WHERE i.indrelid = 'orders'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);

DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT name FROM seed_index_defs LOOP
    EXECUTE format('DROP INDEX %s', r.name);
  END LOOP;
END $$;

-- The orders. One row per g; every random draw is a column of `b` so the
-- CASEs below see one consistent set of draws per row.
INSERT INTO orders (
  order_number, source, status, warehouse_id, driver_id, customer_name, customer_phone,
  delivery_address, area, block, street, avenue, building, floor, apartment, paci_number,
  delivery_latitude, delivery_longitude, amount, payment_method, notes,
  failure_reason, failure_reason_code, cancel_reason, recipient_name, delivery_notes,
  estimated_delivery_time, assigned_at, picked_up_at, delivered_at, failed_at, cancelled_at,
  returned_at, created_by, created_at, updated_at, version, tracking_token)
SELECT
  'SO-' || to_char(b.created AT TIME ZONE 'Asia/Kuwait', 'YYMMDD') || '-' || lpad(b.g::text, 7, '0'),
  (ARRAY['excel', 'excel', 'excel', 'manual', 'manual', 'd365'])[1 + b.g % 6],
  s.status,
  b.wh_id,
  CASE WHEN s.status IN ('assigned', 'picked_up', 'delivered', 'failed', 'returned')
         OR (s.status = 'cancelled' AND b.r2 < 0.3) THEN b.drv_id END,
  c.first_name || ' ' || c.last_name,
  '+965' || c.phone8,
  format('Block %s, Street %s, Building %s, %s', c.block, c.street, c.building, a.name),
  a.name, c.block::text, 'Street ' || c.street,
  CASE WHEN c.cust % 4 = 0 THEN 'Avenue ' || (1 + c.cust % 9) END,
  c.building::text,
  CASE WHEN c.cust % 3 <> 0 THEN (c.cust % 12)::text END,
  CASE WHEN c.cust % 3 <> 0 THEN (1 + c.cust % 20)::text END,
  c.paci,
  a.lat + ((c.cust % 1000) - 500) * 0.00002, a.lng + ((c.cust / 1000 % 1000) - 500) * 0.00002,
  round((2 + b.r3 * 58)::numeric, 1)::numeric(12,3) + (b.g % 4) * 0.250,
  (ARRAY['cash', 'cash', 'cash', 'cash', 'knet', 'knet', 'knet', 'card', 'card', 'prepaid'])[1 + b.g % 10],
  CASE b.g % 25 WHEN 0 THEN 'Call before arrival' WHEN 1 THEN 'اتصل قبل الوصول'
                WHEN 2 THEN 'Leave with the guard' WHEN 3 THEN 'Fragile' END,
  CASE WHEN s.status IN ('failed', 'returned') THEN
    (ARRAY['Customer not answering', 'Nobody at home', 'Wrong block number', 'Customer refused the order'])[1 + b.g % 4] END,
  CASE WHEN s.status IN ('failed', 'returned') THEN
    (ARRAY['customer_unreachable', 'customer_not_home', 'wrong_address', 'customer_refused'])[1 + b.g % 4] END,
  CASE WHEN s.status = 'cancelled' THEN
    (ARRAY['Customer cancelled by phone', 'Duplicate order', 'Out of stock'])[1 + b.g % 3] END,
  CASE WHEN s.status = 'delivered' THEN CASE WHEN b.g % 3 = 0 THEN 'Security guard' ELSE c.first_name END END,
  NULL,
  b.created + interval '3 hours',
  t.assigned_at, t.picked_up_at, t.delivered_at, t.failed_at, t.cancelled_at, t.returned_at,
  (SELECT min(id) FROM users WHERE role = 'admin'),
  b.created,
  greatest(b.created, t.assigned_at, t.picked_up_at, t.delivered_at, t.failed_at, t.cancelled_at, t.returned_at),
  1 + (t.assigned_at IS NOT NULL)::int + (t.picked_up_at IS NOT NULL)::int + (t.delivered_at IS NOT NULL)::int
    + (t.failed_at IS NOT NULL)::int + (t.cancelled_at IS NOT NULL)::int + (t.returned_at IS NOT NULL)::int,
  -- The real default's layout (creation time in microseconds, then random
  -- hex), but from md5: gen_random_uuid() twice per row costs ~15 s per
  -- million here. Bench data only.
  lpad(to_hex((extract(epoch FROM b.created) * 1000000)::bigint), 14, '0')
    || substr(md5(b.r1::text || b.g) || md5(b.r3::text || b.cust), 1, 50)
FROM (
  SELECT g,
         -- ids follow time: created_at grows with g over 90 days, minus a little jitter
         now() - interval '90 days' * (1 - g::float8 / :n) - random() * interval '5 minutes' AS created,
         (1 + floor(random() * 200000))::int AS cust,
         random() AS r1, random() AS r2, random() AS r3,
         random() AS m1, random() AS m2, random() AS m3
  FROM generate_series(1, :n) g
) b0
CROSS JOIN LATERAL (
  SELECT b0.*,
         now() - b0.created < interval '1 day' AS live,
         wh.ids[1 + b0.cust % 12] AS wh_id,
         drv.ids[1 + (b0.cust % 12 + 12 * floor(b0.r2 * 3)::int) % 40] AS drv_id
  FROM (SELECT array_agg(id ORDER BY code) AS ids FROM warehouses WHERE code LIKE 'BW-%') wh,
       (SELECT array_agg(id ORDER BY code) AS ids FROM drivers WHERE code LIKE 'DRV-%') drv
) b
-- the customer: fixed per cust, so repeat customers share phone, name and address
CROSS JOIN LATERAL (
  SELECT b.cust AS cust,
         (ARRAY['Ahmad', 'Mohammed', 'Fatima', 'Noura', 'Abdullah', 'Maryam', 'Khaled', 'Sara',
                'Yousef', 'Dana', 'Hessa', 'Ali', 'Reem', 'Bader', 'Latifa', 'Omar',
                'John', 'Maria', 'Priya', 'Ravi', 'Grace', 'Anna', 'David', 'Fahad',
                'أحمد', 'محمد', 'فاطمة', 'نورة', 'عبدالله', 'مريم', 'خالد', 'سارة'])[1 + b.cust % 32] AS first_name,
         (ARRAY['Al-Sabah', 'Al-Mutairi', 'Al-Enezi', 'Al-Ajmi', 'Al-Rashidi', 'Al-Azmi', 'Al-Kandari',
                'Al-Otaibi', 'Al-Shammari', 'Al-Hajri', 'Bukhari', 'Al-Ghanim', 'Behbehani', 'Al-Saleh',
                'Fernandes', 'Smith', 'Nair', 'Kumar', 'Santos', 'Haddad',
                'العنزي', 'المطيري', 'العجمي', 'الرشيدي', 'الكندري', 'العتيبي'])[1 + (b.cust / 32) % 26] AS last_name,
         (ARRAY['5', '6', '9'])[1 + b.cust % 3] || lpad(((b.cust::bigint * 7919 + 1234567) % 10000000)::text, 7, '0') AS phone8,
         1 + b.cust % 12 AS block,
         1 + (b.cust / 12) % 40 AS street,
         1 + (b.cust / 480) % 300 AS building,
         lpad(((b.cust::bigint * 104729) % 90000000 + 10000000)::text, 8, '0') AS paci
) c
CROSS JOIN LATERAL (
  SELECT (ARRAY['Salmiya', 'Hawalli', 'Jabriya', 'Farwaniya', 'Kuwait City', 'Jahra', 'Fahaheel',
                'Mangaf', 'Shuwaikh', 'Mishref', 'Ardiya', 'Sabah Al-Salem', 'Bayan', 'Rumaithiya',
                'Salwa', 'Fintas', 'Khaitan', 'Surra', 'Qurtuba', 'Abu Halifa', 'Dasma', 'Mubarak Al-Kabeer'])[1 + i] AS name,
         (ARRAY[29.3339, 29.3328, 29.3150, 29.2775, 29.3759, 29.3375, 29.0825, 29.0961, 29.3500, 29.2750,
                29.2930, 29.2570, 29.2980, 29.3120, 29.2950, 29.1740, 29.2830, 29.3100, 29.3050, 29.1300,
                29.3640, 29.2000])[1 + i] AS lat,
         (ARRAY[48.0761, 48.0286, 48.0300, 47.9586, 47.9774, 47.6581, 48.1303, 48.1322, 47.9400, 48.0650,
                47.9050, 48.0570, 48.0510, 48.0750, 48.0800, 48.1200, 47.9700, 48.0000, 47.9900, 48.1280,
                48.0000, 48.0900])[1 + i] AS lng
  FROM (SELECT (b.cust % 12 + 12 * ((b.cust / 12) % 2)) % 22 AS i) ii
) a
-- timestamps along the state machine's path; an order of the last day has
-- only got as far as "now" allows
CROSS JOIN LATERAL (
  SELECT b.created + interval '10 minutes' + b.m1 * interval '80 minutes' AS t_assign
) ta
CROSS JOIN LATERAL (
  SELECT ta.t_assign + interval '5 minutes' + b.m2 * interval '35 minutes' AS t_pick
) tp
CROSS JOIN LATERAL (
  SELECT tp.t_pick + interval '10 minutes' + b.m3 * interval '110 minutes' AS t_end
) te
-- the status: finished for old orders, a live mix for the last day
CROSS JOIN LATERAL (
  SELECT CASE WHEN NOT b.live THEN
           CASE WHEN b.r1 < 0.88 THEN 'delivered' WHEN b.r1 < 0.93 THEN 'cancelled'
                WHEN b.r1 < 0.97 THEN 'returned' ELSE 'failed' END
         ELSE
           CASE WHEN b.r1 < 0.25 THEN 'pending' WHEN b.r1 < 0.45 THEN 'assigned'
                WHEN b.r1 < 0.60 THEN 'picked_up' WHEN b.r1 < 0.92 THEN 'delivered'
                WHEN b.r1 < 0.96 THEN 'failed' ELSE 'cancelled' END
         END AS wanted
) w
CROSS JOIN LATERAL (
  SELECT CASE
           WHEN w.wanted IN ('cancelled', 'returned') THEN w.wanted
           WHEN w.wanted IN ('delivered', 'failed') AND te.t_end <= now() THEN w.wanted
           WHEN w.wanted IN ('delivered', 'failed', 'picked_up') AND tp.t_pick <= now() THEN 'picked_up'
           WHEN w.wanted <> 'pending' AND ta.t_assign <= now() THEN 'assigned'
           ELSE 'pending'
         END AS status
) s
CROSS JOIN LATERAL (
  SELECT CASE WHEN s.status IN ('assigned', 'picked_up', 'delivered', 'failed', 'returned')
                OR (s.status = 'cancelled' AND b.r2 < 0.3) THEN least(ta.t_assign, now()) END AS assigned_at,
         CASE WHEN s.status IN ('picked_up', 'delivered', 'failed', 'returned') THEN tp.t_pick END AS picked_up_at,
         CASE WHEN s.status = 'delivered' THEN te.t_end END AS delivered_at,
         CASE WHEN s.status IN ('failed', 'returned') THEN te.t_end END AS failed_at,
         CASE WHEN s.status = 'cancelled' THEN least(ta.t_assign + b.m2 * interval '2 hours', now()) END AS cancelled_at,
         CASE WHEN s.status = 'returned' THEN least(te.t_end + interval '1 hour' + b.m1 * interval '20 hours', now()) END AS returned_at
) t;

-- rebuild the secondary indexes exactly as the migrations define them
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT def FROM seed_index_defs LOOP
    EXECUTE r.def;
  END LOOP;
END $$;

COMMIT;

VACUUM (ANALYZE) warehouses, users, drivers, orders;

SELECT status, count(*) FROM orders GROUP BY status ORDER BY count(*) DESC;
SELECT pg_size_pretty(pg_total_relation_size('orders')) AS orders_total_size;
