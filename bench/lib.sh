# shellcheck shell=bash
# Shared by bench/*.sh: a private PostgreSQL + Redis + deliveryd (RelWithDebInfo)
# stack, wrk and pgbench wrappers that record results, and small helpers.
#
# Source it, then call bench_attach: it starts a stack (and stops it at exit)
# unless BENCH_STACK names the stack.env of a stack that bench/run-all already
# started, in which case it reuses that one and leaves it running.
#
# Environment (all optional):
#   BENCH_DURATION=10      seconds per wrk / pgbench measurement
#   BENCH_ROUNDS=2         how many times each measurement is repeated
#   BENCH_RESULTS=DIR      where results go (default bench/results/<timestamp>)
#   BENCH_NO_BUILD=1       skip the cmake build
#   BENCH_KEEP=1           keep the stack's directory (PostgreSQL data, logs)
#   THREADS=8              the daemon's worker pool
#   BENCH_HUGEPAGES=1      PostgreSQL's shared memory on huge pages (see
#                          bench_hugepages); 0: on 4 KiB pages
#   BENCH_TREE=DIR         the source tree to build and run (default: this
#                          checkout); e.g. a `git archive HEAD` snapshot when
#                          the working copy is mid-edit. Its build/,
#                          migrations/ and sql/schema/ are used.
#
# Machine note: everything (PostgreSQL, Redis, deliveryd, wrk, pgbench) shares
# the same cores; figures are only comparable as ratios measured in one run.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BENCH_SRC=$BENCH_ROOT/bench
BENCH_LUA=$BENCH_SRC/lua
BENCH_TREE=$(cd "${BENCH_TREE:-$BENCH_ROOT}" && pwd -P)
BENCH_BIN=$BENCH_TREE/build/deliveryd
BENCH_HELLO_BIN=$BENCH_TREE/build/bench/bench_hello
BENCH_ARGON2_BIN=$BENCH_TREE/build/bench/bench_argon2
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-2}
BENCH_DB=deliveryd_bench
BENCH_ADMIN_USER=bench
export BENCH_LUA BENCH_ARGON2_BIN

# shellcheck source=scripts/lib/services.sh
. "$BENCH_ROOT/scripts/lib/services.sh"

blog() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bdie() { blog "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------

bench_results_init() {
  if [ -z "${BENCH_RESULTS:-}" ]; then
    BENCH_RESULTS=$BENCH_SRC/results/$(date +%Y%m%dT%H%M%S)
  fi
  mkdir -p "$BENCH_RESULTS"
  BENCH_RESULTS=$(cd "$BENCH_RESULTS" && pwd -P)
  export BENCH_RESULTS
  if [ ! -f "$BENCH_RESULTS/results.tsv" ]; then
    printf 'suite\tname\tround\treq_s\tp50_ms\tp99_ms\terrors\tload1\n' >"$BENCH_RESULTS/results.tsv"
  fi
  if [ ! -f "$BENCH_RESULTS/ratios.tsv" ]; then
    printf 'suite\tname\tround\tratio\ttarget\n' >"$BENCH_RESULTS/ratios.tsv"
  fi
  if [ ! -f "$BENCH_RESULTS/machine.txt" ]; then
    {
      echo "date: $(date -u +%FT%TZ)"
      echo "host: $(uname -srm)"
      echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
      echo "memory: $(free -m | awk '/^Mem:/ {print $2}') MiB"
      echo "tree: $BENCH_TREE"
      if [ "$BENCH_TREE" = "$BENCH_ROOT" ]; then
        echo "commit: $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$BENCH_ROOT" diff --quiet HEAD -- src migrations sql 2>/dev/null || echo ' (+ uncommitted changes in src/, migrations/ or sql/)')"
      elif [ -f "$BENCH_TREE/.bench-commit" ]; then
        echo "commit: $(cat "$BENCH_TREE/.bench-commit") (snapshot)"
      fi
      echo "wrk: $(wrk --version 2>&1 | head -1 | cut -c1-60)"
      echo "postgres: $("$PG_BIN/postgres" --version)"
      echo "redis: $(redis-server --version | cut -c1-60)"
      echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$BENCH_RESULTS/machine.txt"
  fi
}

# record SUITE NAME ROUND REQ_S P50_MS P99_MS ERRORS
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" \
    "$(cut -d' ' -f1 /proc/loadavg)" >>"$BENCH_RESULTS/results.tsv"
}

# record_ratio SUITE NAME ROUND NUMERATOR DENOMINATOR TARGET -> prints the ratio
record_ratio() {
  local r
  r=$(awk -v a="$4" -v b="$5" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$r" "$6" >>"$BENCH_RESULTS/ratios.tsv"
  echo "$r"
}

# ---------------------------------------------------------------------------
# the stack
# ---------------------------------------------------------------------------

bench_build() {
  [ "${BENCH_NO_BUILD:-}" = 1 ] && return 0
  blog "building build/ (RelWithDebInfo): deliveryd bench_hello bench_argon2"
  (cd "$BENCH_TREE" &&
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BENCH_RESULTS/build.log" 2>&1 &&
    cmake --build build -j2 --target deliveryd bench_hello bench_argon2 >>"$BENCH_RESULTS/build.log" 2>&1) ||
    { tail -n 30 "$BENCH_RESULTS/build.log" >&2; bdie "build failed"; }
}

# The environment deliveryd runs with (exported for the CLI calls too).
bench_daemon_env() {
  export DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$BENCH_DB"
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  export JWT_SECRET BIND_ADDRESS=127.0.0.1 PORT=$DAEMON_PORT
  export STORAGE_DIR=$BENCH_DIR/storage MIGRATIONS_DIR=$BENCH_TREE/migrations SCHEMA_DIR=$BENCH_TREE/sql/schema
  export LOG_LEVEL=warn
}

psql_bench() { pg_psql "$PG_PORT" "$BENCH_DB" "$@"; }

# Starts PostgreSQL (durable defaults, bigger shared_buffers, room for
# pgbench -c 200 next to the daemon), Redis and the daemon; creates the admin
# and sets the rate limit out of wrk's way.
bench_up() {
  bench_build
  BENCH_DIR=$(mktemp -d /tmp/deliveryd-bench-XXXXXX)
  chmod 755 "$BENCH_DIR"
  mkdir -p "$BENCH_DIR/storage"
  PG_PORT=$(free_port)
  REDIS_PORT=$(free_port)
  DAEMON_PORT=$(free_port)
  HELLO_PORT=$(free_port)
  JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  ADMIN_PASS="bench-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
  BASE=http://127.0.0.1:$DAEMON_PORT
  export BENCH_DIR PG_PORT REDIS_PORT DAEMON_PORT HELLO_PORT JWT_SECRET ADMIN_PASS BASE

  blog "stack in $BENCH_DIR: PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, deliveryd :$DAEMON_PORT"
  pg_start "$BENCH_DIR/pg" "$PG_PORT" || bdie "PostgreSQL did not start"
  # Production-like durability (fsync and synchronous_commit stay on).
  pg_psql "$PG_PORT" postgres -c "ALTER SYSTEM SET shared_buffers = '1GB'" \
    -c "ALTER SYSTEM SET max_connections = 300" \
    -c "ALTER SYSTEM SET maintenance_work_mem = '512MB'" \
    -c "ALTER SYSTEM SET max_wal_size = '4GB'" >/dev/null || bdie "ALTER SYSTEM failed"
  pg_stop "$BENCH_DIR/pg" || bdie "PostgreSQL stop failed"
  bench_hugepages
  pg_start "$BENCH_DIR/pg" "$PG_PORT" || bdie "PostgreSQL restart failed"
  pg_createdb "$PG_PORT" "$BENCH_DB" || bdie "createdb failed"
  redis_start "$BENCH_DIR/redis" "$REDIS_PORT" || bdie "Redis did not start"

  bench_daemon_env
  "$BENCH_BIN" migrate >"$BENCH_DIR/migrate.log" 2>&1 || { cat "$BENCH_DIR/migrate.log" >&2; bdie "migrate failed"; }
  # The limit is per user per minute; wrk makes tens of thousands of calls.
  psql_bench -c "UPDATE settings SET value = '100000000' WHERE key = 'rate_limit_per_minute'" >/dev/null
  printf '%s\n' "$ADMIN_PASS" | "$BENCH_BIN" create-user --username "$BENCH_ADMIN_USER" \
    --role admin --full-name "Bench Admin" >/dev/null 2>"$BENCH_DIR/create-user.log" ||
    { cat "$BENCH_DIR/create-user.log" >&2; bdie "create-user failed"; }

  {
    for v in BENCH_DIR PG_PORT REDIS_PORT DAEMON_PORT HELLO_PORT JWT_SECRET ADMIN_PASS BASE BENCH_RESULTS; do
      printf '%s=%q\n' "$v" "${!v}"
    done
  } >"$BENCH_DIR/stack.env"
  chmod 600 "$BENCH_DIR/stack.env"
  daemon_start "${THREADS:-8}"
}

# Huge pages for PostgreSQL's shared memory, as docs/operations.md asks of a
# production host (1 GB of shared_buffers in 4 KiB pages costs the backends
# page faults and TLB misses: a 20,000-row import took about 12% longer
# without them). BENCH_HUGEPAGES=1 (the default) reserves what this
# PostgreSQL needs when the kernel has fewer free (root only; the previous
# vm.nr_hugepages comes back at the end) and sets huge_pages=on;
# BENCH_HUGEPAGES=0 leaves the kernel alone and PostgreSQL on 4 KiB pages.
# machine.txt records which it was. Called with PostgreSQL stopped.
bench_hugepages() {
  local state=off need free
  if [ "${BENCH_HUGEPAGES:-1}" = 1 ]; then
    need=$(cd "$BENCH_DIR/pg" && as_pg_user "$PG_BIN/postgres" -D "$BENCH_DIR/pg/data" \
      -C shared_memory_size_in_huge_pages 2>/dev/null) || need=
    free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
    if [ -n "$need" ] && [ "$need" -gt 0 ] 2>/dev/null; then
      if [ "${free:-0}" -lt "$need" ] && [ -w /proc/sys/vm/nr_hugepages ]; then
        BENCH_HUGE_PREV=$(cat /proc/sys/vm/nr_hugepages)
        echo $((BENCH_HUGE_PREV + need - ${free:-0})) >/proc/sys/vm/nr_hugepages 2>/dev/null
        free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
      fi
      [ "${free:-0}" -ge "$need" ] && state=on
    fi
    [ "$state" = on ] || blog "huge pages unavailable (need ${need:-?}, free ${free:-0}): PostgreSQL on 4 KiB pages"
  fi
  # the cluster is stopped: append to what ALTER SYSTEM wrote
  echo "huge_pages = $state" | as_pg_user tee -a "$BENCH_DIR/pg/data/postgresql.auto.conf" >/dev/null
  echo "huge pages: $state${need:+ ($need of 2 MiB for PostgreSQL)}" >>"$BENCH_RESULTS/machine.txt"
}

bench_down() {
  [ -n "${BENCH_DIR:-}" ] || return 0
  blog "stopping the stack in $BENCH_DIR"
  daemon_stop
  hello_stop
  redis_stop "$BENCH_DIR/redis"
  pg_stop "$BENCH_DIR/pg"
  if [ -n "${BENCH_HUGE_PREV:-}" ]; then
    echo "$BENCH_HUGE_PREV" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-}" = 1 ]; then
    blog "kept $BENCH_DIR (BENCH_KEEP=1)"
  else
    cp -f "$BENCH_DIR/daemon.log" "$BENCH_RESULTS/daemon.log" 2>/dev/null
    rm -rf "$BENCH_DIR"
  fi
}

# bench_attach: reuse $BENCH_STACK or start a stack owned by this script.
bench_attach() {
  if [ -n "${BENCH_STACK:-}" ]; then
    local results=${BENCH_RESULTS:-}
    # shellcheck disable=SC1090
    . "$BENCH_STACK" || bdie "cannot read $BENCH_STACK"
    [ -z "$results" ] || BENCH_RESULTS=$results # the caller's choice wins
    export BENCH_DIR PG_PORT REDIS_PORT DAEMON_PORT HELLO_PORT JWT_SECRET ADMIN_PASS BASE BENCH_RESULTS
    bench_results_init
    bench_daemon_env
    curl -fsS -o /dev/null "$BASE/health" || bdie "the shared stack's daemon does not answer on $BASE"
  else
    bench_results_init
    trap bench_down EXIT
    trap 'exit 130' INT TERM
    bench_up
  fi
  blog "results in $BENCH_RESULTS"
}

_wait_http() { # URL SECONDS PID
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# daemon_start [THREADS]: (re)starts deliveryd serve; pid in $BENCH_DIR/daemon.pid
daemon_start() {
  local threads=${1:-8} pid
  daemon_stop
  bench_daemon_env
  THREADS=$threads "$BENCH_BIN" serve >>"$BENCH_DIR/daemon.log" 2>&1 &
  pid=$!
  echo "$pid" >"$BENCH_DIR/daemon.pid"
  _wait_http "$BASE/health" 15 "$pid" || { tail -n 20 "$BENCH_DIR/daemon.log" >&2; bdie "deliveryd did not start"; }
  blog "deliveryd serving on $BASE (THREADS=$threads, pid $pid)"
}

daemon_stop() {
  local pid i
  [ -f "$BENCH_DIR/daemon.pid" ] || return 0
  pid=$(cat "$BENCH_DIR/daemon.pid")
  rm -f "$BENCH_DIR/daemon.pid"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  blog "deliveryd (pid $pid) ignored SIGTERM for 15 s; killing it"
  kill -KILL "$pid" 2>/dev/null
}

hello_start() {
  local threads=${1:-8} pid
  hello_stop
  THREADS=$threads "$BENCH_HELLO_BIN" "$HELLO_PORT" 2>>"$BENCH_DIR/hello.log" &
  pid=$!
  echo "$pid" >"$BENCH_DIR/hello.pid"
  _wait_http "http://127.0.0.1:$HELLO_PORT/" 10 "$pid" || bdie "bench_hello did not start"
}

hello_stop() {
  local pid
  [ -f "$BENCH_DIR/hello.pid" ] || return 0
  pid=$(cat "$BENCH_DIR/hello.pid")
  rm -f "$BENCH_DIR/hello.pid"
  kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  return 0
}

# ---------------------------------------------------------------------------
# API helpers
# ---------------------------------------------------------------------------

# login USER PASSWORD -> prints an access token (valid 15 minutes)
login() {
  local body
  body=$(jq -cn --arg u "$1" --arg p "$2" '{username: $u, password: $p}')
  curl -fsS -H 'Content-Type: application/json' -d "$body" "$BASE/api/v1/auth/login" |
    jq -er .access_token
}

admin_token() { login "$BENCH_ADMIN_USER" "$ADMIN_PASS"; }

# api METHOD PATH TOKEN [BODY] -> the response body; fails on a non-2xx status
api() {
  local args=(-sS -X "$1" -H "Authorization: Bearer $3" -w '\n%{http_code}')
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  local out code
  out=$(curl "${args[@]}" "$BASE$2") || return 1
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${code:0:1}" != 2 ]; then
    blog "$1 $2 -> $code: $out"
    return 1
  fi
  printf '%s\n' "$out"
}

# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------

# wrk_run LABEL CONNECTIONS LUA URL -> prints "REQ_S P50_MS P99_MS ERRORS"
# (wrk -t2, or -t1 for a single connection)
# LUA is a file in bench/lua (every script there ends with the report hook).
# Errors = socket errors + non-2xx/3xx answers; any error is also logged.
wrk_run() {
  local label=$1 conns=$2 lua=$3 url=$4 out line rps p50 p99 errors
  out=$BENCH_RESULTS/wrk-$label.txt
  local threads=2
  [ "$conns" -ge 2 ] || threads=1
  wrk -t"$threads" -c"$conns" -d"${BENCH_DURATION}s" --timeout 10s --latency -s "$BENCH_LUA/$lua" "$url" \
    >"$out" 2>&1
  line=$(grep '^RESULT ' "$out" | tail -1)
  if [ -z "$line" ]; then
    cat "$out" >&2
    bdie "wrk $label produced no result"
  fi
  read -r _ rps p50 p99 errors <<<"$line"
  # WRK_EXPECT_ERRORS=1: the scenario answers 4xx on purpose
  [ "$errors" = 0 ] || [ "${WRK_EXPECT_ERRORS:-}" = 1 ] || blog "WARNING: wrk $label: $errors errors (see $out)"
  echo "$rps $p50 $p99 $errors"
}

# pgbench_run LABEL CLIENTS FILE [pgbench args...] -> prints "TPS P50_MS P99_MS FAILED"
# -M prepared unless PGBENCH_MODE says otherwise; latency percentiles from -l logs.
pgbench_run() {
  local label=$1 clients=$2 file=$3 out logdir tps failed pct
  shift 3
  out=$BENCH_RESULTS/pgbench-$label.txt
  logdir=$BENCH_DIR/pgblog-$label
  rm -rf "$logdir" && mkdir -p "$logdir"
  "$PG_BIN/pgbench" -n -M "${PGBENCH_MODE:-prepared}" -c "$clients" -j 2 -T "$BENCH_DURATION" \
    -l --log-prefix="$logdir/pgb" -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -f "$file" "$@" "$BENCH_DB" >"$out" 2>&1 || { tail -n 20 "$out" >&2; bdie "pgbench $label failed"; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*without initial connection time.*/\1/p' "$out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
  pct=$(cat "$logdir"/pgb* | awk '{print $3}' | sort -n | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "0 0"; exit }
          i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
          i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
          printf "%.2f %.2f", v[i50] / 1000, v[i99] / 1000 }')
  rm -rf "$logdir"
  tps=$(awk -v t="${tps:-0}" 'BEGIN { printf "%.1f", t }')
  echo "$tps $pct ${failed:-0}"
}

# ensure_seeded [N]: bench/seed_orders.sql unless orders already has N rows
ensure_seeded() {
  local n=${1:-${ORDERS_N:-1000000}} have start secs
  have=$(psql_bench -tAc "SELECT count(*) FROM orders") || bdie "cannot count orders"
  [ "$have" -ge "$n" ] && return 0
  blog "seeding $n orders (bench/seed_orders.sql; about 3 minutes for a million)"
  start=$(date +%s)
  psql_bench -v n="$n" -f "$BENCH_SRC/seed_orders.sql" >"$BENCH_RESULTS/seed.txt" 2>&1 ||
    { tail -n 20 "$BENCH_RESULTS/seed.txt" >&2; bdie "seeding failed"; }
  secs=$(($(date +%s) - start))
  echo "seed_seconds $secs n $n load1_after $(cut -d' ' -f1 /proc/loadavg)" >>"$BENCH_RESULTS/seed.txt"
  blog "seeded $n orders in ${secs}s"
}

# fmt NUMBER -> rounded for display
fmt0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }

# print_table TSV: aligned columns
# A Dynamics-365-like sales-order workbook of ROWS rows for import benches:
# bench_make_import_xlsx PATH PREFIX ROWS WAREHOUSE_CODE (order numbers
# PREFIX-000000...; needs /usr/bin/python3 with openpyxl, BENCH_PY).
bench_make_import_xlsx() {
  "${BENCH_PY:-/usr/bin/python3}" - "$1" "$2" "$3" "$4" <<'PYEOF'
import sys, random, openpyxl
path, prefix, rows, wh = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
wb = openpyxl.Workbook(write_only=True)
ws = wb.create_sheet("Sales orders")
ws.append(["Sales Order", "Customer Name", "Mobile", "Delivery Address", "Area", "Block",
           "Net Amount", "Payment Method", "Site", "Remarks"])
names = ["محمد العلي", "Fatima Hassan", "John Smith", "نورة الصباح", "Ahmed Saleh"]
areas = ["Salmiya", "Hawalli", "Jabriya", "Farwaniya", "Mishref"]
for i in range(rows):
    ws.append([f"{prefix}-{i:06d}", random.choice(names), 50000000 + i, f"Street {i % 90}",
               random.choice(areas), str(i % 12), round(random.random() * 50, 3), "COD", wh,
               f"note {i}"])
wb.save(path)
PYEOF
}

print_table() { column -t -s $'\t' "$1"; }
