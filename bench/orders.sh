#!/usr/bin/env bash
# Orders at 1,000,000 rows (issue 4 "Measure"):
#   GET /api/v1/orders?page_size=50, GET /api/v1/orders?q=<6 phone digits>,
#   GET /api/v1/orders/{id}: wrk -t2 -c64 req/s and p99, each against pgbench
#   (-M prepared, -c64 -j2) running the same SQL in the same round;
#   EXPLAIN ANALYZE of each statement; POST /orders/batch-cancel of 500
#   pending orders: wall time (curl time_total).
#
#   bench/orders.sh            (ORDERS_N=1000000 rows; seeds when the table has fewer)
#
# Also each GET with one client alone (wrk -t1 -c1): the latency a user sees
# when the server is not saturated.
#
# Targets: daemon/pgbench >= 0.6; search p99 < 20 ms; batch-cancel < 100 ms.
#
# ORDERS_PARTS="reads alone cancel" (the default: all three) picks parts:
# reads = EXPLAIN + wrk vs pgbench, alone = one client, cancel = batch-cancel
# (CANCEL_ROUNDS times, default BENCH_ROUNDS; CANCEL_PICK=random|recent picks
# the orders; CANCEL_AFTER_CHECKPOINT=1 for the worst case).
# ceiling (not in the default) = the search's ceiling on this machine: pgbench
# at 1, 2, 4, 8 and 64 clients on three forms of the daemon's statement (as
# sent with a cached total; the same rows without JSON; their ids only), so
# the best throughput PostgreSQL reaches for it, and what the JSON costs,
# can be compared with the 64 / throughput that a p99 at c64 cannot beat.
#
# The same SQL: GET /orders/{id}'s pgbench script is filled in at bench time
# from the daemon's own statement (order_get in sql/queries/orders.sql) by
# bench/query-sql --fill bench/sql/orders_get.sql.in, written to
# $BENCH_RESULTS/orders_get.sql, so the EXPLAIN, pgbench and ceiling figures
# measure the text the daemon runs. The list and search scripts
# (bench/sql/orders_list.sql, orders_search.sql) are still copies: their
# statements are assembled in C (api/orders_list.c, api/order_filters.c).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_attach
SUITE=orders
POOL=${THREADS:-8}
N=${ORDERS_N:-1000000}

ensure_seeded "$N"

TOKEN=$(admin_token)
export TOKEN
read -r MIN_ID MAX_ID TOTAL <<<"$(psql_bench -tAF' ' -c "SELECT min(id), max(id), count(*) FROM orders")"
# six digits from the middle of an existing customer's phone (+965 5xxxxxxx)
DIGITS=$(psql_bench -tAc "SELECT substr(phone_digits, 6, 6) FROM order_search WHERE order_id = $((MIN_ID + (MAX_ID - MIN_ID) / 2))")
MATCHES=$(psql_bench -tAc "SELECT count(*) FROM orders o WHERE o.id IN (SELECT s.order_id FROM order_search s WHERE s.search_text LIKE lower('%$DIGITS%') OR s.phone_digits LIKE '%$DIGITS%') AND NOT o.is_archived")
blog "orders: $TOTAL rows (ids $MIN_ID..$MAX_ID); search q=$DIGITS matches $MATCHES orders"
echo "q=$DIGITS matches=$MATCHES total=$TOTAL" >"$BENCH_RESULTS/orders-search-term.txt"
GRAMS="{$DIGITS,$DIGITS}" # its first and last 6-digit windows (order_filters.c, migration 0014)
# the daemon's own statement for GET /orders/{id} (see the header)
GET_FILE=$BENCH_RESULTS/orders_get.sql
"${BENCH_PY:-/usr/bin/python3}" "$BENCH_SRC/query-sql" --fill "$BENCH_SRC/sql/orders_get.sql.in" >"$GET_FILE" ||
  bdie "bench/query-sql cannot fill orders_get.sql.in from sql/queries"

PARTS=" ${ORDERS_PARTS:-reads alone cancel} "
part() { [[ $PARTS == *" $1 "* ]]; }

if part reads; then
# --- EXPLAIN ANALYZE of the three statements (the values the daemon binds) ---
LIST_SQL=$(sed -n '/^SELECT/p' "$BENCH_SRC/sql/orders_list.sql" | sed 's/:size::int/50/; s/:size/50/; s/:off/0/; s/:page::int/1/')
SEARCH_SQL=$(sed -n '/^SELECT/p' "$BENCH_SRC/sql/orders_search.sql" |
  sed "s/:size::int/50/; s/:size/50/; s/:off/0/; s/:page::int/1/; s/:pat/'%$DIGITS%'/g; s/:dpat/'%$DIGITS%'/g; s/:grams/'$GRAMS'/g")
GET_SQL=$(grep -v '^--\|^\\' "$GET_FILE" | sed "s/:id/$((MAX_ID - 12345))/")
{
  # twice in one session: the second shows planning with warm catalog caches
  for q in "$LIST_SQL" "$SEARCH_SQL" "$GET_SQL"; do
    echo "=== ${q:0:160}..."
    psql_bench -c "EXPLAIN (ANALYZE, BUFFERS) ${q%;}" -c "EXPLAIN (ANALYZE, BUFFERS) ${q%;}" 2>&1
    echo
  done
  # the daemon runs the digit search on its generic plan
  # (db_query_generic_or_reply), and so does pgbench below: show that plan
  echo "=== prepared search statement on its generic plan (as the daemon runs it)"
  psql_bench <<SQL 2>&1
SET plan_cache_mode = force_generic_plan;
PREPARE s(text, text, bigint, bigint, int, text) AS
$(sed -n '/^SELECT/p' "$BENCH_SRC/sql/orders_search.sql" | sed 's/:pat/$1/g; s/:dpat/$2/g; s/:size::int/$3::int/; s/:size/$3/; s/:off/$4/; s/:page::int/$5::int/; s/:grams/$6/g')
EXECUTE s('%$DIGITS%', '%$DIGITS%', 50, 0, 1, '$GRAMS') \g /dev/null
EXPLAIN (ANALYZE) EXECUTE s('%$DIGITS%', '%$DIGITS%', 50, 0, 1, '$GRAMS');
SQL
} >"$BENCH_RESULTS/explain-orders.txt"
grep -E '^===|Planning Time|Execution Time' "$BENCH_RESULTS/explain-orders.txt" | sed 's/^=== \(.\{70\}\).*/=== \1.../' >&2

# --- wrk vs pgbench, BENCH_ROUNDS rounds -------------------------------------
export ORDER_MIN_ID=$MIN_ID ORDER_MAX_ID=$MAX_ID
for round in $(seq 1 "$BENCH_ROUNDS"); do
  for name in list search get; do
    case $name in
      list) url="$BASE/api/v1/orders?page_size=50"; lua=get.lua; sql=$BENCH_SRC/sql/orders_list.sql; args=() ;;
      # planned once per connection, as the daemon does (generic plan)
      search) url="$BASE/api/v1/orders?q=$DIGITS"; lua=get.lua; sql=$BENCH_SRC/sql/orders_search.sql
              args=(-D "pat=%$DIGITS%" -D "dpat=%$DIGITS%" -D "grams=$GRAMS")
              export PGOPTIONS="-c plan_cache_mode=force_generic_plan" ;;
      get) url="$BASE/api/v1/orders/1"; lua=orders_get.lua; sql=$GET_FILE
           args=(-D "n=$MAX_ID") ;;
    esac
    read -r w_rps w_p50 w_p99 w_err <<<"$(wrk_run "orders-$name-r$round" 64 "$lua" "$url")"
    record $SUITE "$name (deliveryd)" "$round" "$w_rps" "$w_p50" "$w_p99" "$w_err"
    read -r p_tps p_p50 p_p99 p_err <<<"$(pgbench_run "orders-$name-r$round" 64 "$sql" "${args[@]}")"
    record $SUITE "$name (pgbench)" "$round" "$p_tps" "$p_p50" "$p_p99" "$p_err"
    ratio=$(record_ratio $SUITE "$name deliveryd/pgbench" "$round" "$w_rps" "$p_tps" ">= 0.6")
    # the daemon itself runs at most THREADS statements at once (one
    # connection per worker): pgbench at that concurrency is the other ceiling
    read -r q_tps q_p50 q_p99 q_err <<<"$(pgbench_run "orders-$name-c$POOL-r$round" "$POOL" "$sql" "${args[@]}")"
    record $SUITE "$name (pgbench c$POOL)" "$round" "$q_tps" "$q_p50" "$q_p99" "$q_err"
    ratio2=$(record_ratio $SUITE "$name deliveryd/pgbench c$POOL" "$round" "$w_rps" "$q_tps" "-")
    if [ "$name" = get ]; then
      # -M extended plans every execution, as the daemon's PQexecParams does
      read -r e_tps e_p50 e_p99 e_err <<<"$(PGBENCH_MODE=extended pgbench_run "orders-$name-c$POOL-extended-r$round" "$POOL" "$sql" "${args[@]}")"
      record $SUITE "$name (pgbench c$POOL -M extended)" "$round" "$e_tps" "$e_p50" "$e_p99" "$e_err"
      record_ratio $SUITE "$name deliveryd/pgbench c$POOL -M extended" "$round" "$w_rps" "$e_tps" "-" >/dev/null
    fi
    unset PGOPTIONS
    blog "round $round $name: deliveryd $(fmt0 "$w_rps") req/s p99 ${w_p99} ms | pgbench $(fmt0 "$p_tps") tps p99 ${p_p99} ms | ratio $ratio | pgbench c$POOL $(fmt0 "$q_tps") tps, ratio $ratio2"
  done
done

fi

if part alone; then
# --- latency of one client alone (what a user waits for on an idle server) -------
for round in $(seq 1 "$BENCH_ROUNDS"); do
  for name in list search get; do
    case $name in
      list) url="$BASE/api/v1/orders?page_size=50"; lua=get.lua ;;
      search) url="$BASE/api/v1/orders?q=$DIGITS"; lua=get.lua ;;
      get) url="$BASE/api/v1/orders/1"; lua=orders_get.lua ;;
    esac
    read -r w_rps w_p50 w_p99 w_err <<<"$(wrk_run "orders-$name-c1-r$round" 1 "$lua" "$url")"
    record $SUITE "$name c1 (deliveryd)" "$round" "$w_rps" "$w_p50" "$w_p99" "$w_err"
    blog "round $round $name, one client: $(fmt0 "$w_rps") req/s, p50 $w_p50 ms, p99 $w_p99 ms"
  done
done

fi

if part ceiling; then
# --- the search's ceiling: the statement as the daemon sends it when its total
# is cached (api_orders_list), then without order_body() and without columns
CEIL_SRC=$(sed -n '/^SELECT/p' "$BENCH_SRC/sql/orders_search.sql")
CEIL_WHERE=$(grep -o 'WHERE TRUE AND o.id IN .*AND NOT o.is_archived ORDER BY' <<<"$CEIL_SRC" | head -1)
[ -n "$CEIL_WHERE" ] || bdie "ceiling: cannot find the search's WHERE in orders_search.sql"
CEIL_ORDER="o.created_at DESC, o.id DESC LIMIT :size OFFSET :off"
ceil_json() { # $1 = what each item is
  echo "\\set size 50"; echo "\\set off 0"
  echo "SELECT json_build_object('items', coalesce((SELECT json_agg(x.body ORDER BY x.rn) FROM (SELECT $1 AS body, row_number() OVER (ORDER BY o.created_at DESC, o.id DESC) AS rn FROM orders o $CEIL_WHERE $CEIL_ORDER) x), '[]'::json), 'page', 1, 'page_size', :size::int, 'total', c.total)::text, c.total FROM (SELECT $MATCHES::bigint AS total) c;"
}
ceil_json "order_body(o)" >"$BENCH_RESULTS/search-cached-total.sql"
{ echo "\\set size 50"; echo "\\set off 0"
  echo "SELECT o.*, delivery_seconds(o) FROM orders o $CEIL_WHERE $CEIL_ORDER;"; } >"$BENCH_RESULTS/search-rows.sql"
ceil_json "o.id" >"$BENCH_RESULTS/search-ids.sql"
export PGOPTIONS="-c plan_cache_mode=force_generic_plan"
for form in cached-total rows ids; do
  for c in 1 2 4 8 64; do
    read -r tps p50 p99 err <<<"$(pgbench_run "orders-search-$form-c$c" "$c" "$BENCH_RESULTS/search-$form.sql" \
      -D "pat=%$DIGITS%" -D "dpat=%$DIGITS%" -D "grams=$GRAMS")"
    record $SUITE "search $form (pgbench c$c)" 1 "$tps" "$p50" "$p99" "$err"
    blog "ceiling: search $form, pgbench c$c: $(fmt0 "$tps") tps, p50 $p50 ms, p99 $p99 ms; 64/tps = $(awk -v t="$tps" 'BEGIN { printf "%.1f", 64000 / t }') ms"
  done
done
unset PGOPTIONS

fi

if part cancel; then
# --- batch-cancel of 500 pending orders -----------------------------------------
# The id lists are drawn before the timed calls (drawing scans every pending
# order), each call follows a 1 s pause, and CANCEL_AFTER_CHECKPOINT=1 runs a
# CHECKPOINT before each call: the worst case, where every page the
# statement touches first goes to the WAL whole (docs/performance.md §2.4).
sleep 5 # the load of the reads settles
rounds=${CANCEL_ROUNDS:-$BENCH_ROUNDS}
# CANCEL_PICK=random (the default): 500 pending orders drawn at random from
# all of them, each on its own heap page and index leaves - the worst case.
# CANCEL_PICK=recent: the newest pending orders, 500 after 500, as a manager
# selects a page of today's list.
case ${CANCEL_PICK:-random} in
  random) pick="ORDER BY random()" ;;
  recent) pick="ORDER BY created_at DESC, id DESC" ;;
  *) bdie "CANCEL_PICK is random or recent" ;;
esac
psql_bench -tAc "SELECT json_agg(id) FROM (SELECT id, (row_number() OVER ($pick) - 1) / 500 AS r
  FROM orders WHERE status = 'pending') t WHERE r < $rounds GROUP BY r ORDER BY r" >"$BENCH_RESULTS/batch-cancel-ids.txt"
round=0
while read -r ids && [ -n "$ids" ]; do
  round=$((round + 1))
  count=$(jq length <<<"$ids")
  body=$(jq -cn --argjson ids "$ids" '{order_ids: $ids, reason: "bench: batch cancel"}')
  [ "${CANCEL_AFTER_CHECKPOINT:-}" = 1 ] && psql_bench -qc CHECKPOINT
  sleep 1
  out=$(curl -sS -o "$BENCH_RESULTS/batch-cancel-r$round.json" -w '%{http_code} %{time_total}' \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary "$body" "$BASE/api/v1/orders/batch-cancel")
  read -r code secs <<<"$out"
  ok=$(jq '.succeeded | length' "$BENCH_RESULTS/batch-cancel-r$round.json" 2>/dev/null || echo 0)
  ms=$(awk -v s="$secs" 'BEGIN { printf "%.1f", s * 1000 }')
  errs=$((count - ok))
  [ "$code" = 200 ] || errs=$count
  record $SUITE "batch-cancel $count ${CANCEL_PICK:-random} (wall ms)" "$round" "-" "-" "$ms" "$errs"
  blog "round $round batch-cancel of $count pending orders: HTTP $code, $ok cancelled, ${ms} ms (load1 $(cut -d' ' -f1 /proc/loadavg))"
done <"$BENCH_RESULTS/batch-cancel-ids.txt"
[ "$round" -gt 0 ] || blog "no pending orders left for batch-cancel"
fi

echo
print_table <(awk -F'\t' -v s=$SUITE 'NR == 1 || $1 == s' "$BENCH_RESULTS/results.tsv")
echo
print_table <(awk -F'\t' -v s=$SUITE 'NR == 1 || $1 == s' "$BENCH_RESULTS/ratios.tsv")
