#!/usr/bin/env bash
# THREADS (the daemon's libmicrohttpd worker pool): GET /health and
# GET /api/v1/orders/{id} (1,000,000 orders) with THREADS = 2, 4, 8, 16
# (THREADS_LIST), wrk -t2 -c64, BENCH_ROUNDS rounds; then /orders/{id} again
# while two clients keep loading the (slow) first page of the order list.
# A DB-backed route is where the pool size matters: a worker blocks in libpq
# for the whole query, every connection libmicrohttpd gave that worker waits,
# and each worker holds its own PostgreSQL connection.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_attach
SUITE=threads

ensure_seeded "${ORDERS_N:-1000000}"
TOKEN=$(admin_token)
export TOKEN
read -r ORDER_MIN_ID ORDER_MAX_ID <<<"$(psql_bench -tAF' ' -c "SELECT min(id), max(id) FROM orders")"
export ORDER_MIN_ID ORDER_MAX_ID

for round in $(seq 1 "$BENCH_ROUNDS"); do
  for t in ${THREADS_LIST:-2 4 8 16}; do
    daemon_start "$t"
    read -r rps p50 p99 err <<<"$(TOKEN='' wrk_run "threads-$t-health-r$round" 64 get.lua "$BASE/health")"
    record $SUITE "THREADS=$t /health" "$round" "$rps" "$p50" "$p99" "$err"
    read -r o_rps o_p50 o_p99 o_err <<<"$(wrk_run "threads-$t-order-r$round" 64 orders_get.lua "$BASE/api/v1/orders/1")"
    record $SUITE "THREADS=$t /orders/{id}" "$round" "$o_rps" "$o_p50" "$o_p99" "$o_err"
    # the same with two managers' list pages (~0.5 s queries at 1M orders)
    # running all the time: each holds a worker, and every connection queued
    # on that worker waits behind it
    wrk -t1 -c2 -d"$((BENCH_DURATION + 2))s" -s "$BENCH_LUA/get.lua" "$BASE/api/v1/orders?page_size=50" \
      >"$BENCH_RESULTS/wrk-threads-$t-lists-r$round.txt" 2>&1 &
    lists=$!
    sleep 1
    read -r m_rps m_p50 m_p99 m_err <<<"$(wrk_run "threads-$t-order-mixed-r$round" 64 orders_get.lua "$BASE/api/v1/orders/1")"
    wait "$lists" || true
    record $SUITE "THREADS=$t /orders/{id} + 2 list readers" "$round" "$m_rps" "$m_p50" "$m_p99" "$m_err"
    blog "round $round THREADS=$t: /health $(fmt0 "$rps") req/s p99 $p99 ms | /orders/{id} $(fmt0 "$o_rps") req/s p99 $o_p99 ms | with 2 list readers $(fmt0 "$m_rps") req/s p99 $m_p99 ms"
  done
done
daemon_start "${THREADS:-8}" # leave the default running for whatever follows

echo
print_table <(awk -F'\t' -v s=$SUITE 'NR == 1 || $1 == s' "$BENCH_RESULTS/results.tsv")
