#!/usr/bin/env bash
# A/B of two builds of deliveryd on ONE seeded stack (bench/lib.sh):
#
#   bench/ab.sh A_TREE B_TREE      two source trees, e.g.
#                                    git worktree add --detach /tmp/ab-a <old commit>
#                                    bench/ab.sh /tmp/ab-a .
#                                  each is built RelWithDebInfo into its build/
#                                  (target deliveryd; BENCH_NO_BUILD=1 skips it)
#   bench/ab.sh A_BIN B_BIN        two built binaries; B's migrations/ and
#                                  sql/schema/ come from AB_B_TREE, or from the
#                                  tree around B_BIN when it is TREE/build/deliveryd
#
# B is the newer build: the database is migrated ONCE, by B's binary with B's
# migrations and sql/schema (migrations are forward-only), and seeded once
# (bench/seed_orders.sql, ORDERS_N orders). A's binary then runs against B's
# schema: every turn first probes each selected path once, and stops the run
# with a message naming the build, the request and the answer when a binary
# fails there (or does not start).
#
# Then BENCH_ROUNDS rounds of: start A's daemon, log in, measure every
# selected path, stop it; start B's, the same, stop it - alternating, so a
# drift of the machine (other load, caches, table growth) hits both. The
# imports run as a second series of alternating rounds after the others, so
# the orders they add do not change what list, search and get read.
#
# Paths (AB_PATHS, default all, in this order):
#   list    GET /api/v1/orders?page_size=50          wrk -c64, get.lua (as bench/orders.sh)
#   search  GET /api/v1/orders?q=<digits>            wrk -c64; the digits (6 when the seed
#           allows it: the digit-gram path) are chosen so that about
#           AB_SEARCH_MATCHES (30) orders match, and fixed for the whole run
#   get     GET /api/v1/orders/{random id}           wrk -c64, orders_get.lua
#   gps     POST /api/v1/drivers/location, 1 point   wrk -c64, location_single.lua,
#           AB_DRIVERS (64) drivers made through POST /drivers (as bench/field.sh);
#           each run writes its own day of recorded_at, so every point is new
#   map     GET /api/v1/drivers/locations            wrk -c200, get.lua (as bench/field.sh)
#   import  POST /api/v1/orders/import of an AB_IMPORT_ROWS (20,000)-row .xlsx made as
#           bench/import_export.sh makes it, new order numbers each time (each
#           import creates them all): curl's time_total, and the daemon's peak
#           RSS growth
#
# Each wrk run follows an unrecorded one of AB_WARMUP (2) seconds on the same
# path (the fresh daemon's connections and caches), and the imports follow
# one unrecorded import (AB_WARMUP=0: neither).
#
# Environment: BENCH_DURATION (10 s per wrk run), BENCH_ROUNDS (3), AB_PATHS,
# ORDERS_N (1000000, as bench/orders.sh), AB_DRIVERS (64), AB_SEARCH_MATCHES
# (30), AB_IMPORT_ROWS (20000), AB_WARMUP (2), THREADS (8), BENCH_RESULTS, BENCH_KEEP,
# BENCH_HUGEPAGES, BENCH_NO_BUILD (bench/lib.sh). Both daemons get the same
# environment, bench/lib.sh's bench_daemon_env only: a binary ignores the
# variables it does not know (config_load reads its own list of names).
#
# Output in BENCH_RESULTS (bench/results/<timestamp>/): results.tsv (suite
# "ab", one row per build, path and round), ratios.tsv (B/A per round) and
# ab.tsv: per path and metric the A median, the B median, B/A and every
# round's value; printed at the end. Everything listens on 127.0.0.1; the
# stack is stopped at exit.
set -euo pipefail

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  echo '(the paths, options and output: the comment at the top of bench/ab.sh)' >&2
  exit 2
}
[ $# -eq 2 ] || usage

# --- the two builds (before lib.sh: it resolves BENCH_TREE when sourced) ----
abs_path() { (cd "$(dirname "$1")" && echo "$(pwd -P)/$(basename "$1")"); }
declare -A TREE BIN DESC GIVEN_BIN
resolve_side() { # SIDE ARG
  local side=$1 arg=$2 t
  GIVEN_BIN[$side]=0
  if [ -d "$arg" ]; then
    TREE[$side]=$(cd "$arg" && pwd -P)
    BIN[$side]=${TREE[$side]}/build/deliveryd
  elif [ -f "$arg" ] && [ -x "$arg" ]; then
    BIN[$side]=$(abs_path "$arg")
    GIVEN_BIN[$side]=1
    t=AB_${side}_TREE
    t=${!t:-}
    if [ -z "$t" ] && [ -d "$(dirname "${BIN[$side]}")/../migrations" ]; then
      t=$(dirname "${BIN[$side]}")/..
    fi
    TREE[$side]=
    [ -z "$t" ] || TREE[$side]=$(cd "$t" && pwd -P)
  else
    echo "bench/ab.sh: $side: '$arg' is neither a source tree nor an executable" >&2
    exit 2
  fi
}
resolve_side A "$1"
resolve_side B "$2"
[ -n "${TREE[B]}" ] && [ -d "${TREE[B]}/migrations" ] || {
  echo "bench/ab.sh: B's migrations/ not found: give B as a tree, or set AB_B_TREE" >&2
  exit 2
}
export BENCH_ROUNDS=${BENCH_ROUNDS:-3}
export BENCH_TREE=${TREE[B]} # migrations and sql/schema of B (bench_daemon_env)
unset BENCH_STACK            # the daemon is restarted: never a shared stack

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
SUITE=ab
POOL=${THREADS:-8}
N=${ORDERS_N:-1000000}
NDRV=${AB_DRIVERS:-64}
ROWS=${AB_IMPORT_ROWS:-20000}
WANT_MATCHES=${AB_SEARCH_MATCHES:-30}
WARMUP=${AB_WARMUP:-2}
PY=${BENCH_PY:-/usr/bin/python3}
ALL_PATHS="list search get gps map import"
read -r -a PATHS <<<"${AB_PATHS:-$ALL_PATHS}"
for p in "${PATHS[@]}"; do
  [[ " $ALL_PATHS " == *" $p "* ]] || bdie "AB_PATHS: unknown path '$p' (known: $ALL_PATHS)"
done
selected() { [[ " ${PATHS[*]} " == *" $1 "* ]]; }
WRK_PATHS=()
for p in list search get gps map; do selected "$p" && WRK_PATHS+=("$p"); done
[ "$BENCH_ROUNDS" -ge 1 ] || bdie "BENCH_ROUNDS must be at least 1"
# gps: each run its own day of recorded_at, within the 90-day retention
if selected gps && [ $((2 * BENCH_ROUNDS + 2)) -gt 85 ]; then
  bdie "gps: at most 41 rounds (each run writes its own day of the 90-day retention)"
fi

describe() { # SIDE
  local side=$1 t=${TREE[$1]} c
  if [ -n "$t" ] && c=$(git -C "$t" rev-parse --short HEAD 2>/dev/null); then
    git -C "$t" diff --quiet HEAD -- src migrations sql include CMakeLists.txt 2>/dev/null ||
      c="$c+uncommitted"
    echo "$c ($t)"
  else
    echo "${BIN[$side]}"
  fi
}
DESC[A]=$(describe A)
DESC[B]=$(describe B)

# RelWithDebInfo of deliveryd only (bench_build also wants bench_hello and
# bench_argon2, which an older commit may not have).
ab_build() { # SIDE
  local side=$1 t=${TREE[$1]} log=$BENCH_RESULTS/build-$1.log
  if [ "${BENCH_NO_BUILD:-}" = 1 ] || [ "${GIVEN_BIN[$side]}" = 1 ]; then
    [ -x "${BIN[$side]}" ] || bdie "$side: no binary ${BIN[$side]}"
    local cache type
    cache=$(dirname "${BIN[$side]}")/CMakeCache.txt
    type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache" 2>/dev/null || true)
    case $type in
      RelWithDebInfo | Release) ;;
      *) blog "WARNING: $side's binary is a '${type:-unknown}' build, not RelWithDebInfo" ;;
    esac
    return 0
  fi
  blog "building $side: $t/build (RelWithDebInfo, target deliveryd)"
  (cmake -S "$t" -B "$t/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$log" 2>&1 &&
    cmake --build "$t/build" -j2 --target deliveryd >>"$log" 2>&1) ||
    { tail -n 30 "$log" >&2; bdie "$side: build failed ($log)"; }
}

# --- results and the stack ---------------------------------------------------
bench_results_init
{
  echo "A: ${DESC[A]}, binary ${BIN[A]}"
  echo "B: ${DESC[B]}, binary ${BIN[B]} (migrations and sql/schema: ${TREE[B]})"
  echo "ab: BENCH_ROUNDS=$BENCH_ROUNDS BENCH_DURATION=$BENCH_DURATION ORDERS_N=$N THREADS=$POOL paths: ${PATHS[*]}"
} >>"$BENCH_RESULTS/machine.txt"
trap bench_down EXIT
trap 'exit 130' INT TERM
ab_build A
[ "${TREE[A]}" = "${TREE[B]}" ] && [ "${BIN[A]}" = "${BIN[B]}" ] || ab_build B

# bench_up migrates with $BENCH_BIN (B), creates the admin and starts B
BENCH_BIN=${BIN[B]}
BENCH_NO_BUILD=1 bench_up
blog "A: ${DESC[A]}"
blog "B: ${DESC[B]} (migrated the database)"

CURL=(curl -sS --max-time 60)

# ab_fail SIDE WHAT: says which build failed where, then stops the run
ab_fail() {
  local who
  if [ "$1" = A ]; then
    who="A's binary (${DESC[A]}) fails against the schema migrated by B (${DESC[B]})"
  else
    who="B's binary (${DESC[B]}) fails on its own schema"
  fi
  blog "daemon log (last lines):"
  tail -n 15 "$BENCH_DIR/daemon.log" >&2 || true
  bdie "$who: $2"
}

# ab_call SIDE METHOD PATH TOKEN [BODY] -> the body; a non-2xx is ab_fail
ab_call() {
  local side=$1 args=(-X "$2" -w '\n%{http_code}') out code
  [ -z "$4" ] || args+=(-H "Authorization: Bearer $4")
  [ $# -lt 5 ] || args+=(-H 'Content-Type: application/json' --data-binary "$5")
  out=$("${CURL[@]}" "${args[@]}" "$BASE$3") || ab_fail "$side" "$2 $3: no answer (curl failed)"
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  [ "${code:0:1}" = 2 ] || ab_fail "$side" "$2 $3 -> HTTP $code: ${out:0:400}"
  printf '%s\n' "$out"
}

ab_login() { # SIDE USER PASSWORD -> access token
  local body
  body=$(jq -cn --arg u "$2" --arg p "$3" '{username: $u, password: $p}')
  local out
  out=$(ab_call "$1" POST /api/v1/auth/login "" "$body") || exit 1 # ab_call said why
  jq -er .access_token <<<"$out" || ab_fail "$1" "POST /api/v1/auth/login ($2): no access_token in ${out:0:200}"
}

ab_daemon_start() { # SIDE LABEL
  local side=$1 pid
  daemon_stop
  BENCH_BIN=${BIN[$side]}
  bench_daemon_env
  printf '=== %s: %s, %s\n' "$side" "${DESC[$side]}" "$2" >>"$BENCH_DIR/daemon.log"
  THREADS=$POOL "$BENCH_BIN" serve >>"$BENCH_DIR/daemon.log" 2>&1 &
  pid=$!
  echo "$pid" >"$BENCH_DIR/daemon.pid"
  _wait_http "$BASE/health" 15 "$pid" || ab_fail "$side" "deliveryd serve did not answer GET /health within 15 s"
  DPID=$pid
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- the data, once (through B's daemon, which bench_up started) -------------
ensure_seeded "$N"
TOKEN=$(ab_login B "$BENCH_ADMIN_USER" "$ADMIN_PASS")
export TOKEN # get.lua and orders_get.lua send it
read -r MIN_ID MAX_ID TOTAL <<<"$(psql_bench -tAF' ' -c "SELECT min(id), max(id), count(*) FROM orders")"
blog "orders: $TOTAL rows (ids $MIN_ID..$MAX_ID)"

SEARCH_TERM='' SEARCH_TOTAL=''
if selected search; then
  # Candidates: the last L digits of the phones of 16 orders spread over the
  # table, L = 6 first (6+ digits take the digit-gram path, as in
  # bench/orders.sh), then 5, then 4 when the seed is too small for 6 digits
  # to match about AB_SEARCH_MATCHES orders: the first L with a term within a
  # factor 2 of the target, else the closest term of all.
  pick='' best=''
  for l in 6 5 4; do
    cand=$(psql_bench -tAF' ' -c "
      WITH t AS (
        SELECT DISTINCT right(s.phone_digits, $l) AS term
        FROM generate_series(0, 15) k
        JOIN order_search s ON s.order_id = (SELECT min(o.id) FROM orders o
                                             WHERE o.id >= $MIN_ID + k * ($MAX_ID - $MIN_ID) / 16)
        WHERE s.phone_digits ~ '^[0-9]{6,}\$')
      SELECT term, (SELECT count(*) FROM orders o WHERE o.id IN (
                      SELECT s.order_id FROM order_search s
                      WHERE s.search_text LIKE '%' || t.term || '%' OR s.phone_digits LIKE '%' || t.term || '%')
                    AND NOT o.is_archived)
      FROM t" | awk -v want="$WANT_MATCHES" '
        { d = $2 - want; if (d < 0) d = -d
          if (best == "" || d < best) { best = d; line = $2 " " $1 } }
        END { print line }') || bdie "search: choosing the term failed"
    read -r n term <<<"$cand"
    [ -n "${term:-}" ] || continue
    if [ -z "$best" ] || [ $((n > WANT_MATCHES ? n - WANT_MATCHES : WANT_MATCHES - n)) -lt "$best" ]; then
      best=$((n > WANT_MATCHES ? n - WANT_MATCHES : WANT_MATCHES - n))
      pick="$term $n"
    fi
    [ $((2 * n)) -lt "$WANT_MATCHES" ] || [ "$n" -gt $((2 * WANT_MATCHES)) ] || { pick="$term $n"; break; }
  done
  read -r SEARCH_TERM sql_n <<<"$pick"
  [ -n "$SEARCH_TERM" ] || bdie "search: no phone digits to search for"
  SEARCH_TOTAL=$(ab_call B GET "/api/v1/orders?q=$SEARCH_TERM&page_size=1" "$TOKEN" | jq -er .total)
  blog "search: q=$SEARCH_TERM (${#SEARCH_TERM} digits) matches $SEARCH_TOTAL orders (SQL count $sql_n; target $WANT_MATCHES)"
  echo "q=$SEARCH_TERM matches=$SEARCH_TOTAL total=$TOTAL" >"$BENCH_RESULTS/ab-search-term.txt"
fi

DRV_PASS='' DRIVER_USERS=()
if selected gps; then
  WH=$(psql_bench -tAc "SELECT min(id) FROM warehouses WHERE is_active")
  [ -n "$WH" ] || bdie "gps: no active warehouse"
  RUN=$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')
  DRV_PASS="ab-$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
  blog "gps: creating $NDRV drivers through POST /api/v1/drivers"
  for i in $(seq 1 "$NDRV"); do
    body=$(jq -cn --arg u "bench_ab_${RUN}_$i" --arg p "$DRV_PASS" --arg n "AB Driver $i" \
      --arg ph "+9656$(printf '%07d' $(((RUN * 100 + i) % 10000000)))" --arg c "AB-$RUN-$i" \
      --argjson wh "$WH" \
      '{username: $u, password: $p, full_name: $n, phone: $ph, code: $c, vehicle_type: "car", warehouse_id: $wh}')
    ab_call B POST /api/v1/drivers "$TOKEN" "$body" >/dev/null
    DRIVER_USERS+=("bench_ab_${RUN}_$i")
  done
fi

IMPORT_CODE=''
if selected import; then
  IMPORT_CODE=ABIMP$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')
  ab_call B POST /api/v1/warehouses "$TOKEN" "{\"code\":\"$IMPORT_CODE\",\"name\":\"A/B import $IMPORT_CODE\"}" >/dev/null
fi
daemon_stop

# --- measurements ---------------------------------------------------------------
declare -A VALS ERRS # "SIDE|path|metric" -> "v1 v2 ..."; "SIDE|path" -> errors
add_val() { VALS["$1|$2|$3"]="${VALS["$1|$2|$3"]:-}${VALS["$1|$2|$3"]:+ }$4"; }
add_err() { ERRS["$1|$2"]=$((${ERRS["$1|$2"]:-0} + $3)); }

path_label() {
  case $1 in
    list) echo "GET /orders?page_size=50 c64" ;;
    search) echo "GET /orders?q=$SEARCH_TERM c64" ;;
    get) echo "GET /orders/{id} c64" ;;
    gps) echo "POST /drivers/location 1 point c64" ;;
    map) echo "GET /drivers/locations c200" ;;
    import) echo "POST /orders/import $ROWS-row xlsx" ;;
  esac
}

# probe SIDE PATH: one request of the path, checked, before wrk runs it
probe() {
  local side=$1 total
  case $2 in
    list) ab_call "$side" GET "/api/v1/orders?page_size=50" "$TOKEN" >/dev/null ;;
    search)
      total=$(ab_call "$side" GET "/api/v1/orders?q=$SEARCH_TERM&page_size=1" "$TOKEN" | jq -r .total)
      [ "$total" = "$SEARCH_TOTAL" ] ||
        blog "WARNING: $side: q=$SEARCH_TERM matches $total orders, B found $SEARCH_TOTAL at the start"
      ;;
    get) ab_call "$side" GET "/api/v1/orders/$MAX_ID" "$TOKEN" >/dev/null ;;
    gps) # a point of its own: a second before this turn's window
      ab_call "$side" POST /api/v1/drivers/location "${DTOKENS%% *}" \
        "$(jq -cn --arg t "$(date -u -d "@$(((LOC_BASE_MS + 1000) / 1000))" +%FT%T.000Z)" \
          '{latitude: 29.3, longitude: 47.95, accuracy: 5.0, recorded_at: $t}')" >/dev/null ;;
    map) ab_call "$side" GET /api/v1/drivers/locations "$TOKEN" >/dev/null ;;
  esac
}

WINDOW=0 # gps: each run writes its own day of recorded_at, back from now
measure_wrk() { # SIDE PATH ROUND
  local side=$1 path=$2 round=$3 conns=64 lua=get.lua url rps p50 p99 err
  case $path in
    list) url="$BASE/api/v1/orders?page_size=50" ;;
    search) url="$BASE/api/v1/orders?q=$SEARCH_TERM" ;;
    get) url="$BASE/api/v1/orders/1"; lua=orders_get.lua ;;
    gps) url="$BASE/api/v1/drivers/location"; lua=location_single.lua ;;
    map) url="$BASE/api/v1/drivers/locations"; conns=200 ;;
  esac
  export ORDER_MIN_ID=$MIN_ID ORDER_MAX_ID=$MAX_ID TOKENS=$DTOKENS
  if [ "$WARMUP" -gt 0 ]; then # the new daemon's connections and caches, not recorded
    BENCH_DURATION=$WARMUP LOC_BASE_MS=$((LOC_BASE_MS - 43200000)) \
      wrk_run "ab-$side-$path-r$round-warmup" "$conns" "$lua" "$url" >/dev/null
  fi
  read -r rps p50 p99 err <<<"$(LOC_BASE_MS=$LOC_BASE_MS wrk_run "ab-$side-$path-r$round" "$conns" "$lua" "$url")"
  [ -n "${err:-}" ] || bdie "wrk $side $path round $round: no result (see $BENCH_RESULTS/wrk-ab-$side-$path-r$round.txt)"
  record $SUITE "$side: $(path_label "$path")" "$round" "$rps" "$p50" "$p99" "$err"
  add_val "$side" "$path" req_s "$rps"
  add_val "$side" "$path" p99_ms "$p99"
  add_err "$side" "$path" "$err"
  blog "round $round $side $path: $(fmt0 "$rps") req/s, p50 $p50 ms, p99 $p99 ms, $err errors"
}

DTOKENS=''
for round in $(seq 1 "$BENCH_ROUNDS"); do
  [ ${#WRK_PATHS[@]} -gt 0 ] || break
  for side in A B; do
    ab_daemon_start "$side" "round $round"
    TOKEN=$(ab_login "$side" "$BENCH_ADMIN_USER" "$ADMIN_PASS")
    DTOKENS=''
    if selected gps; then # a fresh login each turn: sessions as this build keeps them
      for u in "${DRIVER_USERS[@]}"; do DTOKENS="$DTOKENS $(ab_login "$side" "$u" "$DRV_PASS")"; done
      DTOKENS=${DTOKENS# }
    fi
    WINDOW=$((WINDOW + 1))
    LOC_BASE_MS=$(($(now_ms) - WINDOW * 86400000))
    for p in "${WRK_PATHS[@]}"; do probe "$side" "$p"; done
    for p in "${WRK_PATHS[@]}"; do measure_wrk "$side" "$p" "$round"; done
    daemon_stop
  done
  for p in "${WRK_PATHS[@]}"; do
    a=$(awk '{print $NF}' <<<"${VALS["A|$p|req_s"]}")
    b=$(awk '{print $NF}' <<<"${VALS["B|$p|req_s"]}")
    record_ratio $SUITE "$p req/s B/A" "$round" "$b" "$a" "-" >/dev/null
  done
done

# --- imports: a series of their own, after the rest --------------------------
make_xlsx() { bench_make_import_xlsx "$1" "$2" "$3" "$IMPORT_CODE"; } # PATH PREFIX ROWS
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$DPID/status"; }

if selected import; then
  if [ "$WARMUP" -gt 0 ]; then
    # one import first, not recorded: the first into a fresh stack can be
    # slower (new warehouse, cold pages), and it would always be A's
    f=$BENCH_DIR/ab-import-warmup.xlsx
    make_xlsx "$f" "AB${IMPORT_CODE}W" "$ROWS" || bdie "cannot make $f (python3 with openpyxl: BENCH_PY)"
    ab_daemon_start B "import warm-up"
    TOKEN=$(ab_login B "$BENCH_ADMIN_USER" "$ADMIN_PASS")
    t=$(curl -sS --max-time 600 -o "$BENCH_RESULTS/ab-import-warmup.json" -w '%{http_code} %{time_total}' \
      -H "Authorization: Bearer $TOKEN" -F "file=@$f" "$BASE/api/v1/orders/import") ||
      ab_fail B "POST /api/v1/orders/import: no answer within 600 s"
    blog "import warm-up (B, not recorded): HTTP ${t% *}, ${t#* }s"
    daemon_stop
    rm -f "$f"
  fi
  for round in $(seq 1 "$BENCH_ROUNDS"); do
    for side in A B; do
      f=$BENCH_DIR/ab-import-$side-r$round.xlsx
      make_xlsx "$f" "AB$IMPORT_CODE$side$round" "$ROWS" || bdie "cannot make $f (python3 with openpyxl: BENCH_PY)"
      ab_daemon_start "$side" "import round $round"
      TOKEN=$(ab_login "$side" "$BENCH_ADMIN_USER" "$ADMIN_PASS")
      sleep 1 # the start-up settles
      before=$(kib VmRSS)
      echo 5 2>/dev/null >"/proc/$DPID/clear_refs" || true # resets VmHWM
      out=$(curl -sS --max-time 600 -o "$BENCH_RESULTS/ab-import-$side-r$round.json" \
        -w '%{http_code} %{time_total}' -H "Authorization: Bearer $TOKEN" -F "file=@$f" \
        "$BASE/api/v1/orders/import") || ab_fail "$side" "POST /api/v1/orders/import: no answer within 600 s"
      read -r code secs <<<"$out"
      [ "${code:0:1}" = 2 ] ||
        ab_fail "$side" "POST /api/v1/orders/import -> HTTP $code: $(head -c 400 "$BENCH_RESULTS/ab-import-$side-r$round.json")"
      growth=$((($(kib VmHWM) - before) / 1024))
      created=$(jq -r '.created // empty' "$BENCH_RESULTS/ab-import-$side-r$round.json")
      errs=0
      if [ "$created" != "$ROWS" ]; then
        errs=1
        blog "WARNING: $side import round $round created ${created:-?} of $ROWS orders (see ab-import-$side-r$round.json)"
      fi
      daemon_stop
      rm -f "$f"
      record $SUITE "$side: $(path_label import) (s)" "$round" "$secs" "" "" "$errs"
      add_val "$side" import seconds "$secs"
      add_val "$side" import rss_growth_mib "$growth"
      add_err "$side" import "$errs"
      blog "round $round $side import of $ROWS rows: ${secs}s, created ${created:-?}, RSS growth $growth MiB"
    done
    record_ratio $SUITE "import seconds B/A" "$round" \
      "$(awk '{print $NF}' <<<"${VALS["B|import|seconds"]}")" "$(awk '{print $NF}' <<<"${VALS["A|import|seconds"]}")" "-" >/dev/null
  done
fi

# --- ab.tsv ---------------------------------------------------------------------
median() { # values... -> the median
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR == 0) { print "n/a"; exit }
          m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%.6g\n", m }'
}
fmtv() { awk -v v="$1" 'BEGIN { printf (v < 100 ? "%.3g" : "%.0f"), v }'; }
AB=$BENCH_RESULTS/ab.tsv
printf 'path\tmetric\tbetter\tA_median\tB_median\tB/A\tA_rounds\tB_rounds\terrors_A/B\n' >"$AB"
for p in "${PATHS[@]}"; do
  if [ "$p" = import ]; then metrics="seconds:lower rss_growth_mib:lower"; else metrics="req_s:higher p99_ms:lower"; fi
  for mb in $metrics; do
    m=${mb%%:*}
    read -r -a av <<<"${VALS["A|$p|$m"]:-}"
    read -r -a bv <<<"${VALS["B|$p|$m"]:-}"
    [ ${#av[@]} -gt 0 ] && [ ${#bv[@]} -gt 0 ] || continue
    am=$(median "${av[@]}")
    bm=$(median "${bv[@]}")
    ratio=$(awk -v a="$am" -v b="$bm" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$m" "${mb#*:}" "$(fmtv "$am")" "$(fmtv "$bm")" "$ratio" \
      "$(IFS=,; echo "${av[*]}")" "$(IFS=,; echo "${bv[*]}")" "${ERRS["A|$p"]:-0}/${ERRS["B|$p"]:-0}" >>"$AB"
  done
done

echo
echo "A/B on one stack: $BENCH_ROUNDS rounds, A then B each round, wrk ${BENCH_DURATION}s per run, $TOTAL seeded orders, THREADS=$POOL"
echo "  A: ${DESC[A]}"
echo "  B: ${DESC[B]} (migrated the database)"
[ -z "$SEARCH_TERM" ] || echo "  search: q=$SEARCH_TERM matches $SEARCH_TOTAL orders"
echo
print_table "$AB" | sed 's/^/  /'
echo
echo "B/A > 1 is B ahead for 'higher' metrics and B behind for 'lower' ones. Results: $BENCH_RESULTS"
