-- Learned coordinates (issue 20, API.md v1.1 "Dispatch aids"): where
-- deliveries to a customer's address were completed, remembered in
-- customer_places (migration 0028), and the point an order without
-- coordinates gets from them.
--   address_key(...)     the normalized address a place is remembered by
--   learned_point(...)   the point of the last deliveries to a phone and address
-- Written by the deliver statement (src/service/order_actions.c, CTE
-- place) and the backfill (cron learn-coordinates, sql/queries/cron.sql);
-- read by POST /orders (src/api/orders.c) and import_upsert
-- (sql/queries/import.sql: the import and the D365 webhook).
--
-- Named to sort after suggestions.sql (distance_km()).
-- Repeatable file (docs/architecture.md, "Migrations and sql/schema").

-- area|block|street|avenue|building, each lower-cased, trimmed and its
-- runs of white space folded to one space; NULL when all five are empty
-- (an address given only as free text is not a key).
CREATE OR REPLACE FUNCTION address_key(p_area text, p_block text, p_street text,
                                       p_avenue text, p_building text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  -- two regular expressions over the joined text, not five (one per part):
  -- runs of white space to one space, then the spaces around each |
  SELECT CASE WHEN k <> '||||' THEN k END
    FROM (SELECT lower(btrim(regexp_replace(regexp_replace(concat_ws('|',
      coalesce(p_area, ''), coalesce(p_block, ''), coalesce(p_street, ''),
      coalesce(p_avenue, ''), coalesce(p_building, '')), '\s+', ' ', 'g'),
      ' ?\| ?', '|', 'g'))) AS k) x
$$;

-- The learned point of a phone and address key: the component-wise median
-- of the last 5 deliveries there, ignoring a point far from the others (a
-- GPS jump): a point is kept when at least half of the other points lie
-- within 500 m of it. (A median of "the rest" cannot judge three points:
-- with two good points and one jump, each good point's rest is one good
-- point and the jump, whose median lies halfway.) When no point is kept:
-- of two points that disagree the older one (a newer point must be
-- confirmed before it moves the place), of three or more the median of
-- all. One point is its own answer. NULL, NULL without history (or without
-- a phone or a key).
CREATE OR REPLACE FUNCTION learned_point(p_phone text, p_key text,
                                         OUT lat float8, OUT lng float8)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH pts AS (SELECT c.id, c.latitude AS lat, c.longitude AS lng, c.delivered_at
      FROM customer_places c WHERE c.phone = p_phone AND c.address_key = p_key
     ORDER BY c.delivered_at DESC, c.id DESC LIMIT 5),
   n AS (SELECT count(*) AS n FROM pts),
   kept AS (SELECT x.lat, x.lng FROM pts x, n
     WHERE 2 * (SELECT count(*) FROM pts y WHERE y.id <> x.id
                AND distance_km(x.lat, x.lng, y.lat, y.lng) <= 0.5) >= n.n - 1),
   used AS (SELECT lat, lng FROM kept
     UNION ALL
     SELECT f.lat, f.lng FROM (SELECT pts.lat, pts.lng FROM pts ORDER BY delivered_at, id
       LIMIT CASE WHEN (SELECT n FROM n) = 2 THEN 1 END) f
      WHERE NOT EXISTS (SELECT 1 FROM kept))
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY used.lat),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY used.lng)
    FROM used
$$;
