#!/usr/bin/env bash
# Webhooks out (issue 18): the delivery worker against a fast local receiver
# (bench_webhook_sink, bench/webhook_sink.c: answers 200, records each event
# id's arrival time).
#
#   bench/webhooks.sh                         (WEBHOOKS_PARTS="throughput latency")
#
# Parts (WEBHOOKS_PARTS, space-separated):
#   throughput  WEBHOOKS_N events (default 20000, distinct orders) committed in
#               one INSERT with one subscription to '*': events/s from the
#               commit until the last is recorded delivered. Goal >= 1,000/s.
#   latency     one event per transaction, WEBHOOKS_RATE a second (default 50)
#               for BENCH_DURATION seconds: arrival at the receiver minus
#               events.created_at (the change's transaction start, just
#               before its commit), p50/p99. Goal p99 < 200 ms.
#   actions     PATCH /orders/{id} of pending orders (wrk -c16; ORDERS_N orders
#               seeded, default 20000)
#               with 4 subscriptions to '*' against none: the throughput
#               ratio. Goal >= 0.9. Needs the outbox writers (every order
#               change writes its event): before they exist both runs write
#               no event and the ratio says nothing.
#
# The daemon runs with WEBHOOK_ALLOW_PRIVATE=1 (the receiver is on
# 127.0.0.1). Results: $BENCH_RESULTS/results.tsv (suite webhooks) and
# ratios.tsv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_attach
SUITE=webhooks
PARTS=" ${WEBHOOKS_PARTS:-throughput latency} "
part() { [[ $PARTS == *" $1 "* ]]; }
SINK_BIN=$BENCH_TREE/build/bench/bench_webhook_sink
if [ "${BENCH_NO_BUILD:-}" != 1 ] || [ ! -x "$SINK_BIN" ]; then
  cmake --build "$BENCH_TREE/build" -j2 --target bench_webhook_sink >>"$BENCH_RESULTS/build.log" 2>&1 ||
    bdie "cannot build bench_webhook_sink"
fi

export WEBHOOK_ALLOW_PRIVATE=1
daemon_start "${THREADS:-8}"
TOKEN=$(admin_token)
SINK_PORT=$(free_port)
SINK_PID=

sink_start() { # RECORD_FILE
  THREADS=2 RECORD=$1 "$SINK_BIN" "$SINK_PORT" 2>>"$BENCH_DIR/sink.log" &
  SINK_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$SINK_PORT/" 2>/dev/null && return 0
    sleep 0.1
  done
  bdie "bench_webhook_sink did not start"
}
sink_stop() { # waits until the record is written
  [ -n "$SINK_PID" ] || return 0
  kill -TERM "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
  SINK_PID=
}
subscribe() { # -> id
  api POST /api/v1/webhooks/subscriptions "$TOKEN" \
    "{\"url\":\"http://127.0.0.1:$SINK_PORT/events\",\"events\":[\"*\"],\"description\":\"bench\"}" |
    jq -er .id
}
unsubscribe_all() {
  psql_bench -qc "DELETE FROM webhook_subscriptions WHERE description = 'bench'" >/dev/null
}
delivered() { psql_bench -tAc "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"; }
now_ms() { date +%s%3N; }
if [ -n "${BENCH_STACK:-}" ]; then trap 'sink_stop' EXIT; else trap 'sink_stop; bench_down' EXIT; fi

if part throughput; then
  N=${WEBHOOKS_N:-20000}
  for round in $(seq 1 "$BENCH_ROUNDS"); do
    unsubscribe_all
    sink_start "$BENCH_RESULTS/webhooks-throughput-r$round.tsv"
    subscribe >/dev/null
    base=$(delivered)
    t0=$(now_ms)
    psql_bench -qc "INSERT INTO events (type, order_id, data)
                    SELECT 'order.updated', 900000000 + g, jsonb_build_object('order', jsonb_build_object('id', g))
                    FROM generate_series(1, $N) g" >/dev/null
    t_commit=$(now_ms)
    deadline=$((t0 + 600000))
    while [ "$(($(delivered) - base))" -lt "$N" ]; do
      [ "$(now_ms)" -lt "$deadline" ] || bdie "throughput: not all $N delivered within 600 s"
      sleep 0.1
    done
    t1=$(now_ms)
    sink_stop
    rate=$(awk -v n="$N" -v ms="$((t1 - t_commit))" 'BEGIN { printf "%.0f", n * 1000 / ms }')
    got=$(wc -l <"$BENCH_RESULTS/webhooks-throughput-r$round.tsv")
    blog "throughput r$round: $N events delivered in $((t1 - t_commit)) ms after the commit (insert took $((t_commit - t0)) ms): $rate events/s; receiver saw $((got - 1)) requests"
    record $SUITE "deliveries/s ($N events, 1 subscription)" "$round" "$rate" "" "" "$((got - 1 - N))" # - the start probe
  done
  unsubscribe_all
fi

if part latency; then
  RATE=${WEBHOOKS_RATE:-50}
  COUNT=$((RATE * BENCH_DURATION))
  for round in $(seq 1 "$BENCH_ROUNDS"); do
    unsubscribe_all
    rec=$BENCH_RESULTS/webhooks-latency-r$round.tsv
    sink_start "$rec"
    subscribe >/dev/null
    first=$(psql_bench -tAc "SELECT coalesce(max(id), 0) FROM events")
    # one transaction per event, paced (COMMIT inside DO: PostgreSQL 11+);
    # the pause is a transaction of its own, so each event's created_at
    # (now(): its transaction's start) is taken just before its INSERT
    psql_bench -qc "DO \$\$ BEGIN
        FOR i IN 1..$COUNT LOOP
          PERFORM pg_sleep(1.0 / $RATE);
          COMMIT;
          INSERT INTO events (type, order_id, data)
            VALUES ('order.updated', 910000000 + i, '{\"order\":{}}');
          COMMIT;
        END LOOP; END \$\$" >/dev/null
    sleep 2
    sink_stop
    read -r p50 p99 n <<<"$(psql_bench -tAF' ' <<SQL
CREATE TEMP TABLE arrivals (event_id bigint, unix_us bigint);
\copy arrivals FROM '$rec'
SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1),
       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::numeric, 1), count(*)
FROM (SELECT a.unix_us / 1000.0 - extract(epoch FROM e.created_at) * 1000 AS ms
      FROM arrivals a JOIN events e ON e.id = a.event_id WHERE e.id > $first) x;
SQL
)"
    blog "latency r$round: $n events at $RATE/s: commit-to-receiver p50 $p50 ms, p99 $p99 ms"
    record $SUITE "commit-to-receiver latency ($RATE events/s)" "$round" "" "$p50" "$p99" "$((COUNT - n))"
  done
  unsubscribe_all
fi

if part actions; then
  ensure_seeded "${ORDERS_N:-20000}"
  ORDER_IDS_FILE=$BENCH_RESULTS/webhooks-pending-ids.txt
  psql_bench -tAc "SELECT id FROM orders WHERE status = 'pending' AND NOT is_archived LIMIT 10000" >"$ORDER_IDS_FILE"
  [ -s "$ORDER_IDS_FILE" ] || bdie "actions: no pending order to PATCH"
  export ORDER_IDS_FILE TOKEN
  sink_start "$BENCH_RESULTS/webhooks-actions.tsv"
  for round in $(seq 1 "$BENCH_ROUNDS"); do
    unsubscribe_all
    read -r rps0 p50 p99 err <<<"$(wrk_run "webhooks-actions-none-r$round" 16 order_patch.lua "$BASE")"
    record $SUITE "PATCH /orders/{id}, no subscription" "$round" "$rps0" "$p50" "$p99" "$err"
    for _ in 1 2 3 4; do subscribe >/dev/null; done
    ev0=$(psql_bench -tAc "SELECT coalesce(max(id), 0) FROM events")
    read -r rps4 p50 p99 err <<<"$(wrk_run "webhooks-actions-four-r$round" 16 order_patch.lua "$BASE")"
    record $SUITE "PATCH /orders/{id}, 4 subscriptions" "$round" "$rps4" "$p50" "$p99" "$err"
    events=$(psql_bench -tAc "SELECT count(*) FROM events WHERE id > $ev0")
    [ "$events" -gt 0 ] || blog "actions: the PATCHes wrote no event (no outbox writers in this build): the ratio says nothing"
    ratio=$(record_ratio $SUITE "order changes: 4 subscriptions / none" "$round" "$rps4" "$rps0" ">= 0.9")
    blog "actions r$round: $rps0 req/s without subscriptions, $rps4 with 4 ($events events): ratio $ratio"
  done
  unsubscribe_all
  sink_stop
fi

print_table "$BENCH_RESULTS/results.tsv" | grep -E "^suite|^$SUITE" || true
