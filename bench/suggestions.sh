#!/usr/bin/env bash
# Driver suggestions for one order (issue 20): GET /api/v1/orders/{id}/suggestions
# over 50 active drivers and 90 days of history at 1,000,000 orders, one
# client alone (wrk -t1 -c1), as a dispatcher waits for it.
#
#   bench/suggestions.sh        (SUGG_N=1000000 orders; seeds when the table has fewer)
#
# Target: p99 < 50 ms for one client.
#
# Data: bench/seed_orders.sql (12 warehouses, 40 drivers, n orders over 90
# days, ~88% delivered, 22 Kuwaiti areas: the history the suggestions count
# is the seeded delivered orders), plus here: drivers up to 50 (BW-SLM's,
# online with a recent position), three unpaid cash collections per driver
# (the cash factor), and, with SUGG_BACKTEST=1, one 'assigned' history row per
# order of the last SUGG_BACKTEST_DAYS (1) days with a driver point five
# minutes before it, for a one-shot timing of `deliveryd suggest-backtest`.
# The order suggested for is a pending order of the last day in Salmiya
# (the area with the most history). EXPLAIN ANALYZE of the statement with
# the values the daemon binds goes to $BENCH_RESULTS/suggestions-explain.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_attach
SUITE=suggestions
N=${SUGG_N:-1000000}

ensure_seeded "$N"

# --- drivers up to 50, cash held -------------------------------------------------
psql_bench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
WITH wh AS (SELECT id, latitude, longitude FROM warehouses WHERE code = 'BW-SLM'),
 need AS (SELECT generate_series(1, greatest(0, 50 - (SELECT count(*) FROM drivers WHERE is_active))) AS k),
 u AS (INSERT INTO users (username, password_hash, full_name, role, phone)
  SELECT format('bench_sdrv_%s', lpad(k::text, 2, '0')), '$argon2id$x', 'Suggest Driver ' || k,
         'driver', '+9655' || lpad((7100000 + k * 131)::text, 7, '0') FROM need
  ON CONFLICT DO NOTHING RETURNING id, username)
INSERT INTO drivers (user_id, code, phone, vehicle_type, warehouse_id, is_online,
                     last_latitude, last_longitude, last_recorded_at, last_seen_at)
SELECT u.id, 'SDRV-' || substr(u.username, 12), '+9655' || lpad((7100000 + substr(u.username, 12)::int * 131)::text, 7, '0'),
       'car', wh.id, true, wh.latitude + random() * 0.05, wh.longitude + random() * 0.05, now(), now()
  FROM u, wh;
UPDATE drivers SET last_recorded_at = now() - interval '30 seconds', last_seen_at = now()
 WHERE is_online;
INSERT INTO payment_collections (order_id, driver_id, method, amount, collected_at)
SELECT o.id, o.driver_id, 'cash', o.amount, o.delivered_at
  FROM (SELECT d.id AS driver_id FROM drivers d
         WHERE NOT EXISTS (SELECT 1 FROM payment_collections p WHERE p.driver_id = d.id)) d
  CROSS JOIN LATERAL (SELECT id, driver_id, amount, delivered_at FROM orders
   WHERE driver_id = d.driver_id AND status = 'delivered' AND amount IS NOT NULL
   ORDER BY delivered_at DESC LIMIT 3) o;
ANALYZE drivers, payment_collections;
SQL
# as autovacuum keeps a production table: the visibility map set, so the
# area history is an index-only scan (orders_area_delivered_idx)
psql_bench -c "VACUUM (ANALYZE) orders" >/dev/null

DRIVERS=$(psql_bench -tAc "SELECT count(*) FROM drivers WHERE is_active")
OID=$(psql_bench -tAc "SELECT id FROM orders WHERE status = 'pending' AND area = 'Salmiya' ORDER BY id DESC LIMIT 1")
[ -n "$OID" ] || OID=$(psql_bench -tAc "INSERT INTO orders (order_number, warehouse_id, customer_name, customer_phone, area, delivery_address, delivery_latitude, delivery_longitude)
  SELECT 'SUGG-' || extract(epoch FROM now())::bigint, id, 'Bench', '+96550000000', 'Salmiya', 'Salmiya', 29.3339, 48.0761 FROM warehouses WHERE code = 'BW-SLM' RETURNING id")
HIST=$(psql_bench -tAc "SELECT count(*) FROM orders WHERE lower(area) = 'salmiya' AND status = 'delivered' AND delivered_at >= now() - interval '90 days'")
blog "suggestions: $DRIVERS active drivers; order $OID (Salmiya, $HIST deliveries there in 90 days)"
VIS=$(psql_bench -tAc "SELECT relallvisible || '/' || relpages FROM pg_class WHERE relname = 'orders'")
echo "order=$OID drivers=$DRIVERS salmiya_deliveries_90d=$HIST orders=$N all_visible_pages=$VIS" >"$BENCH_RESULTS/suggestions-data.txt"

# --- EXPLAIN ANALYZE of the daemon's statement (the values it binds for an admin) --
SQL_TEXT=$("${BENCH_PY:-/usr/bin/python3}" "$BENCH_SRC/query-sql" suggestions_for_order \
  1="$OID" 2=NULL::bigint 3="'{\"distance\":0.5,\"load\":0.3,\"online\":0.2,\"history\":0.3,\"cash\":0.1}'" \
  4=300 5=600 6=3 7=90 8="'100.000'" 9=120)
{
  psql_bench -c "EXPLAIN (ANALYZE, BUFFERS) ${SQL_TEXT%;}" -c "EXPLAIN (ANALYZE, BUFFERS) ${SQL_TEXT%;}" 2>&1
} >"$BENCH_RESULTS/suggestions-explain.txt"

# --- one client alone ----------------------------------------------------------------
TOKEN=$(admin_token)
export TOKEN
for round in $(seq 1 "$BENCH_ROUNDS"); do
  url="$BASE/api/v1/orders/$OID/suggestions?limit=3"
  read -r w_rps w_p50 w_p99 w_err <<<"$(wrk_run "suggestions-c1-r$round" 1 get.lua "$url")"
  record $SUITE "suggestions c1 (deliveryd)" "$round" "$w_rps" "$w_p50" "$w_p99" "$w_err"
  ratio=$(record_ratio $SUITE "suggestions c1 p99 / 50 ms" "$round" "$w_p99" 50 "<= 1")
  blog "round $round suggestions, one client: $(fmt0 "$w_rps") req/s, p50 $w_p50 ms, p99 $w_p99 ms (p99/50 ms = $ratio)"
done

# --- the backtest, once (optional) ----------------------------------------------------
if [ "${SUGG_BACKTEST:-0}" = 1 ]; then
  DAYS=${SUGG_BACKTEST_DAYS:-1}
  psql_bench -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO order_status_history (order_id, from_status, to_status, changed_by, driver_id, created_at)
SELECT o.id, 'pending', 'assigned', (SELECT min(id) FROM users WHERE role = 'admin'), o.driver_id, o.assigned_at
  FROM orders o WHERE o.assigned_at >= now() - interval '$DAYS days' AND o.driver_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM order_status_history h WHERE h.order_id = o.id);
INSERT INTO driver_locations (driver_id, latitude, longitude, recorded_at)
SELECT DISTINCT ON (o.driver_id, o.assigned_at - interval '5 minutes') o.driver_id,
       o.delivery_latitude + 0.01, o.delivery_longitude, o.assigned_at - interval '5 minutes'
  FROM orders o WHERE o.assigned_at >= now() - interval '$DAYS days' AND o.driver_id IS NOT NULL
   AND o.delivery_latitude IS NOT NULL
ON CONFLICT DO NOTHING;
ANALYZE order_status_history, driver_locations;
SQL
  from=$(date -u -d "-$DAYS days" +%F)
  to=$(date -u +%F)
  start=$(date +%s.%N)
  "$BENCH_BIN" suggest-backtest --from "$from" --to "$to" >"$BENCH_RESULTS/suggestions-backtest.json"
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  blog "suggest-backtest $from..$to: ${secs}s: $(head -c 300 "$BENCH_RESULTS/suggestions-backtest.json")"
  echo "backtest_seconds $secs from $from to $to" >>"$BENCH_RESULTS/suggestions-data.txt"
fi
