#!/usr/bin/env bash
# Import of a 20,000-row .xlsx (wall time and the daemon's peak RSS growth;
# target < 1 s and < 64 MiB) and export of 100,000 orders to .xlsx and .csv
# (wall time and RSS growth). The previous product needed 5-15 s for
# 100-300 rows. Usage: bench/import_export.sh (or via BENCH_STACK=...);
# IMPORT_ROUNDS=N imports N files (default 2). To compare two commits on the
# same machine state, run it alternately with BENCH_TREE=<a git archive of
# the other commit, built> and without.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_attach
TOKEN=$(admin_token)
PY=/usr/bin/python3
PID=$(cat "$BENCH_DIR/daemon.pid")

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }
reset_peak() { echo 5 >"/proc/$PID/clear_refs"; }

code=IMPB$RANDOM
WH=$(api POST /api/v1/warehouses "$TOKEN" "{\"code\":\"$code\",\"name\":\"Import bench $code\"}" |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')

make_xlsx() { bench_make_import_xlsx "$1" "$2" "$3" "$code"; } # PATH PREFIX ROWS

for round in $(seq 1 "${IMPORT_ROUNDS:-2}"); do
  f=$BENCH_DIR/import-$round.xlsx
  make_xlsx "$f" "IMP$RANDOM$round" 20000
  before=$(kib VmRSS)
  reset_peak
  t=$(curl -sS -o "$BENCH_DIR/import-$round.json" -w '%{time_total}' \
    -H "Authorization: Bearer $TOKEN" -F "file=@$f" "$BASE/api/v1/orders/import")
  peak=$(kib VmHWM)
  created=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["created"])' "$BENCH_DIR/import-$round.json")
  growth=$(((peak - before) / 1024))
  blog "import 20,000 rows round $round: ${t}s, created $created, RSS growth ${growth} MiB"
  record import xlsx_20k "$round" "$t" "" "" "rss_growth_mib=$growth"
done

# 100,000 orders in this warehouse for the export: those imported above + the rest
extra=$((100000 - 20000 * ${IMPORT_ROUNDS:-2}))
[ "$extra" -ge 0 ] || extra=0
psql_bench -qc "INSERT INTO orders (order_number, source, warehouse_id, customer_name, customer_phone,
    delivery_address, area, amount, payment_method, created_at)
  SELECT 'EXP-$code-' || g, 'manual', $WH, 'Customer ' || g, '+9655' || lpad(g::text, 7, '0'),
    'Street ' || g % 90, 'Salmiya', (g % 5000) / 100.0, 'cash', now() - make_interval(mins => g)
  FROM generate_series(1, $extra) g; ANALYZE orders;" >/dev/null
for fmt in xlsx csv; do
  for round in 1 2; do
    before=$(kib VmRSS)
    reset_peak
    t=$(curl -sS -o "$BENCH_DIR/export.$fmt" -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
      "$BASE/api/v1/orders/export?format=$fmt&warehouse_id=$WH")
    peak=$(kib VmHWM)
    size=$(stat -c %s "$BENCH_DIR/export.$fmt")
    growth=$(((peak - before) / 1024))
    blog "export 100,000 orders as $fmt round $round: ${t}s, $((size / 1024)) KiB, RSS growth ${growth} MiB"
    record export "${fmt}_100k" "$round" "$t" "" "" "rss_growth_mib=$growth"
  done
done
