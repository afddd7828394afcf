#!/usr/bin/env bash
# Drivers in the field (issue 6 "Measure"), each against pgbench running the
# same SQL at the same concurrency in the same round:
#   POST /api/v1/drivers/location, one point per request   (wrk -c64) points/s
#   POST /api/v1/drivers/location, 500 points per request  (wrk -c64) points/s
#   GET  /api/v1/drivers/locations (live map, 1 s micro-cache) (wrk -c200) req/s, p99
#   the same while 64 drivers post ~16 points/s (each post empties the cache)
#
# FIELD_DRIVERS (default 64) drivers are created through POST /api/v1/drivers
# and log in; each wrk thread posts for its own half of them, round robin, as
# phones do (one driver's points arrive one request at a time); pgbench gives
# client i driver i. The orders table is seeded first if empty, because the
# map counts every driver's active orders.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_attach
SUITE=field
POOL=${THREADS:-8}
NDRV=${FIELD_DRIVERS:-64}

ensure_seeded "${ORDERS_N:-1000000}"
TOKEN=$(admin_token)
export TOKEN

# --- drivers ----------------------------------------------------------------
WH=$(psql_bench -tAc "SELECT min(id) FROM warehouses WHERE is_active")
if [ -z "$WH" ]; then
  WH=$(api POST /api/v1/warehouses "$TOKEN" '{"code":"BW-FLD","name":"Field bench"}' | jq -er .id)
fi
RUN=$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')
DRV_PASS="field-$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
blog "creating $NDRV drivers through POST /api/v1/drivers and logging them in (argon2id each)"
TOKENS=""
DRIVER_IDS=()
for i in $(seq 1 "$NDRV"); do
  body=$(jq -cn --arg u "bench_field_${RUN}_$i" --arg p "$DRV_PASS" --arg n "Field Driver $i" \
    --arg ph "+9655$(printf '%07d' $(((RUN * 100 + i) % 10000000)))" --arg c "BF-$RUN-$i" \
    --argjson wh "$WH" \
    '{username: $u, password: $p, full_name: $n, phone: $ph, code: $c, vehicle_type: "car", warehouse_id: $wh}')
  id=$(api POST /api/v1/drivers "$TOKEN" "$body" | jq -er .id) || bdie "POST /api/v1/drivers failed"
  DRIVER_IDS+=("$id")
  TOKENS="$TOKENS $(login "bench_field_${RUN}_$i" "$DRV_PASS")" || bdie "driver login failed"
done
export TOKENS
DMIN=${DRIVER_IDS[0]}
DMAX=${DRIVER_IDS[$((NDRV - 1))]}
[ $((DMAX - DMIN + 1)) -eq "$NDRV" ] || bdie "driver ids are not contiguous ($DMIN..$DMAX)"

# The pgbench scripts run the daemon's own statements (sql/queries/locations.sql,
# filled in by bench/query-sql): location_map for the live map, and
# location_store for the ingest, with 1 and 500 points,
# recorded_at 1 ms apart ending now (shifted back by :k ms per transaction),
# and each pgbench client posting for its own driver.
MAP_SQL=$BENCH_DIR/locations_map.sql
"${BENCH_PY:-/usr/bin/python3}" "$BENCH_SRC/query-sql" --fill "$BENCH_SRC/sql/locations_map.sql.in" >"$MAP_SQL" ||
  bdie "bench/query-sql cannot fill locations_map.sql.in from sql/queries"
"${BENCH_PY:-/usr/bin/python3}" "$BENCH_SRC/query-sql" --fill "$BENCH_SRC/sql/location_ingest.sql.in" \
  >"$BENCH_DIR/location_ingest.sql.in" ||
  bdie "bench/query-sql cannot fill location_ingest.sql.in from sql/queries"
make_ingest_sql() { # POINTS OUT
  local n=$1 out=$2
  "${BENCH_PY:-/usr/bin/python3}" - "$n" "$BENCH_DIR/location_ingest.sql.in" "$out" <<'PY'
import sys, time, datetime
n, src, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = int(time.time() * 1000)
def ts(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)
arr = lambda xs: '{' + ','.join(xs) + '}'
sub = {
    '@IDX@': arr(str(i) for i in range(n)),
    '@LAT@': arr('%.6f' % (29.30 + (i % 1000) / 10000) for i in range(n)),
    '@LNG@': arr('%.6f' % (47.95 + (i % 777) / 10000) for i in range(n)),
    '@ACC@': arr('5.0' for i in range(n)),
    '@SPD@': arr('8.5' for i in range(n)),
    '@HDG@': arr('120' for i in range(n)),
    '@REC@': arr('"%s"' % ts(base - i) for i in range(n)),
}
text = open(src).read()
text = text.replace('\\set d random(:dmin, :dmax)', '\\set d :dmin + :client_id % (:dmax - :dmin + 1)')
for k, v in sub.items():
    text = text.replace(k, v)
open(out, 'w').write(text)
PY
}
make_ingest_sql 1 "$BENCH_DIR/location_single.sql"
make_ingest_sql 500 "$BENCH_DIR/location_batch.sql"
cp "$BENCH_DIR/location_single.sql" "$BENCH_RESULTS/pgbench-location_single.sql"

# one statement each, for the record
{
  echo "=== ingest of one point (pgbench statement, driver $DMIN)"
  sed -n '/^WITH/p' "$BENCH_DIR/location_single.sql" | sed "s/:d::bigint/$DMIN::bigint/g; s/:k /1000 /; s/:days::int/90/" |
    sed 's/^/EXPLAIN (ANALYZE, BUFFERS) /' | psql_bench 2>&1
  echo "=== live map"
  sed -n '/^SELECT/p' "$MAP_SQL" | sed 's/:offline::int/600/; s/:stale::int/300/' |
    sed 's/^/EXPLAIN (ANALYZE, BUFFERS) /' | psql_bench 2>&1
} >"$BENCH_RESULTS/explain-field.txt"
grep -E '^===|Execution Time' "$BENCH_RESULTS/explain-field.txt" >&2

now_ms() { echo $(($(date +%s%N) / 1000000)); }
window=0 # each wrk run writes its own 3-day window of recorded_at, back from now

for round in $(seq 1 "$BENCH_ROUNDS"); do
  # single points
  window=$((window + 1))
  before=$(psql_bench -tAc "SELECT count(*) FROM driver_locations")
  read -r w_rps w_p50 w_p99 w_err <<<"$(LOC_BASE_MS=$(($(now_ms) - window * 259200000)) \
    wrk_run "location-single-r$round" 64 location_single.lua "$BASE/api/v1/drivers/location")"
  stored=$(($(psql_bench -tAc "SELECT count(*) FROM driver_locations") - before))
  record $SUITE "location 1 point (deliveryd, points/s)" "$round" "$w_rps" "$w_p50" "$w_p99" "$w_err"
  read -r p_tps p_p50 p_p99 p_err <<<"$(pgbench_run "location-single-r$round" 64 "$BENCH_DIR/location_single.sql" -D dmin="$DMIN" -D dmax="$DMAX")"
  record $SUITE "location 1 point (pgbench, points/s)" "$round" "$p_tps" "$p_p50" "$p_p99" "$p_err"
  ratio=$(record_ratio $SUITE "location 1 point deliveryd/pgbench" "$round" "$w_rps" "$p_tps" "-")
  read -r q_tps q_p50 q_p99 q_err <<<"$(pgbench_run "location-single-c$POOL-r$round" "$POOL" "$BENCH_DIR/location_single.sql" -D dmin="$DMIN" -D dmax="$DMAX")"
  record $SUITE "location 1 point (pgbench c$POOL, points/s)" "$round" "$q_tps" "$q_p50" "$q_p99" "$q_err"
  ratio2=$(record_ratio $SUITE "location 1 point deliveryd/pgbench c$POOL" "$round" "$w_rps" "$q_tps" "-")
  blog "round $round single: deliveryd $(fmt0 "$w_rps") points/s (p99 $w_p99 ms, $stored stored) | pgbench $(fmt0 "$p_tps") | ratio $ratio | pgbench c$POOL $(fmt0 "$q_tps"), ratio $ratio2"

  # 500-point batches
  window=$((window + 1))
  before=$(psql_bench -tAc "SELECT count(*) FROM driver_locations")
  read -r w_rps w_p50 w_p99 w_err <<<"$(LOC_BASE_MS=$(($(now_ms) - window * 259200000)) \
    wrk_run "location-batch-r$round" 64 location_batch.lua "$BASE/api/v1/drivers/location")"
  stored=$(($(psql_bench -tAc "SELECT count(*) FROM driver_locations") - before))
  w_pts=$(awk -v r="$w_rps" 'BEGIN { printf "%.1f", r * 500 }')
  record $SUITE "location 500-point batch (deliveryd, points/s)" "$round" "$w_pts" "$w_p50" "$w_p99" "$w_err"
  read -r p_tps p_p50 p_p99 p_err <<<"$(pgbench_run "location-batch-r$round" 64 "$BENCH_DIR/location_batch.sql" -D dmin="$DMIN" -D dmax="$DMAX")"
  p_pts=$(awk -v r="$p_tps" 'BEGIN { printf "%.1f", r * 500 }')
  record $SUITE "location 500-point batch (pgbench, points/s)" "$round" "$p_pts" "$p_p50" "$p_p99" "$p_err"
  ratio=$(record_ratio $SUITE "location batch deliveryd/pgbench" "$round" "$w_pts" "$p_pts" "-")
  read -r q_tps q_p50 q_p99 q_err <<<"$(pgbench_run "location-batch-c$POOL-r$round" "$POOL" "$BENCH_DIR/location_batch.sql" -D dmin="$DMIN" -D dmax="$DMAX")"
  q_pts=$(awk -v r="$q_tps" 'BEGIN { printf "%.1f", r * 500 }')
  record $SUITE "location 500-point batch (pgbench c$POOL, points/s)" "$round" "$q_pts" "$q_p50" "$q_p99" "$q_err"
  ratio2=$(record_ratio $SUITE "location batch deliveryd/pgbench c$POOL" "$round" "$w_pts" "$q_pts" "-")
  blog "round $round batch: deliveryd $(fmt0 "$w_pts") points/s ($w_rps req/s, p99 $w_p99 ms, $stored stored) | pgbench $(fmt0 "$p_pts") | ratio $ratio | pgbench c$POOL $(fmt0 "$q_pts"), ratio $ratio2"

  # live map, 200 dashboards polling as fast as they can
  read -r w_rps w_p50 w_p99 w_err <<<"$(wrk_run "map-r$round" 200 get.lua "$BASE/api/v1/drivers/locations")"
  record $SUITE "GET /drivers/locations c200 (deliveryd)" "$round" "$w_rps" "$w_p50" "$w_p99" "$w_err"
  read -r p_tps p_p50 p_p99 p_err <<<"$(pgbench_run "map-r$round" 200 "$MAP_SQL")"
  record $SUITE "GET /drivers/locations c200 (pgbench)" "$round" "$p_tps" "$p_p50" "$p_p99" "$p_err"
  ratio=$(record_ratio $SUITE "map deliveryd/pgbench" "$round" "$w_rps" "$p_tps" "-")
  read -r q_tps q_p50 q_p99 q_err <<<"$(pgbench_run "map-c$POOL-r$round" "$POOL" "$MAP_SQL")"
  record $SUITE "GET /drivers/locations (pgbench c$POOL)" "$round" "$q_tps" "$q_p50" "$q_p99" "$q_err"
  ratio2=$(record_ratio $SUITE "map deliveryd/pgbench c$POOL" "$round" "$w_rps" "$q_tps" "-")
  blog "round $round map: deliveryd $(fmt0 "$w_rps") req/s p99 $w_p99 ms | pgbench $(fmt0 "$p_tps") tps p99 $p_p99 ms | ratio $ratio | pgbench c$POOL $(fmt0 "$q_tps"), ratio $ratio2"
  # the live map while drivers keep posting (64 drivers, ~16 single points/s
  # in all): every post empties the map's micro-cache
  LOC_BASE_MS=$(($(now_ms) - (window + 1) * 259200000)) LOC_DELAY_MS=250 \
    wrk -t1 -c4 -d"$((BENCH_DURATION + 2))s" -s "$BENCH_LUA/location_single.lua" \
    "$BASE/api/v1/drivers/location" >"$BENCH_RESULTS/wrk-map-ingest-bg-r$round.txt" 2>&1 &
  bg=$!
  window=$((window + 1))
  sleep 1
  read -r w_rps w_p50 w_p99 w_err <<<"$(wrk_run "map-ingest-r$round" 200 get.lua "$BASE/api/v1/drivers/locations")"
  wait "$bg" || true
  read -r _ bg_rps bg_p50 bg_p99 bg_err <<<"$(grep '^RESULT ' "$BENCH_RESULTS/wrk-map-ingest-bg-r$round.txt" || echo "RESULT 0 0 0 0")"
  record $SUITE "GET /drivers/locations c200 while drivers post (deliveryd)" "$round" "$w_rps" "$w_p50" "$w_p99" "$w_err"
  record $SUITE "  the background posts (1 point, c4, 250 ms pauses)" "$round" "$bg_rps" "$bg_p50" "$bg_p99" "$bg_err"
  blog "round $round map with ${bg_rps:-?} location posts/s in the background: $(fmt0 "$w_rps") req/s p99 $w_p99 ms"
done

echo
print_table <(awk -F'\t' -v s=$SUITE 'NR == 1 || $1 == s' "$BENCH_RESULTS/results.tsv")
echo
print_table <(awk -F'\t' -v s=$SUITE 'NR == 1 || $1 == s' "$BENCH_RESULTS/ratios.tsv")
