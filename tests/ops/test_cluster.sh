#!/usr/bin/env bash
# scripts/cluster (issue 17): the production shape on one machine. A copy of
# this clone in a 0700 directory whose path has a space runs `scripts/cluster
# up` on free ports (nginx on 8088 when free), then, through nginx: login,
# a warehouse and an order; the replica is in recovery and has the order; both
# instances answered requests; one instance stopped is routed around and `up`
# brings it back; `down` leaves no process and no listening port, twice.
# The shared nginx files are what the cluster includes, and the production
# site deploy/nginx/deliveryd.conf passes `nginx -t` (with a test certificate).
#
#   DELIVERYD_BIN=build-asan/deliveryd tests/ops/test_cluster.sh
#
# Builds nothing: the binary is $DELIVERYD_BIN, else build-asan/deliveryd, else
# build/deliveryd. Binds 127.0.0.1 only; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd -P)
# shellcheck source=scripts/lib/services.sh
. "$ROOT/scripts/lib/services.sh"
unset DELIVERYD_CLUSTER_PG_DIR
PY=/usr/bin/python3

SRC_BIN=${DELIVERYD_BIN:-}
for b in "$SRC_BIN" build-asan/deliveryd build/deliveryd; do
  if [ -n "$b" ] && [ -x "$b" ]; then SRC_BIN=$b; break; fi
done
if [ -z "$SRC_BIN" ] || [ ! -x "$SRC_BIN" ]; then
  echo "test_cluster: no deliveryd binary (set DELIVERYD_BIN or build build-asan/)" >&2; exit 2
fi
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "test_cluster: nginx is not installed (scripts/deps)" >&2; exit 2; }

FAILED=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILED=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

TOP=$(mktemp -d /tmp/deliveryd-cluster.XXXXXX)
COPY="$TOP/cluster clone"
PGC=""

run_c() {
  (cd / && env -u DATABASE_URL -u REDIS_URL -u PORT -u STORAGE_DIR -u MIGRATIONS_DIR -u SCHEMA_DIR \
     -u JWT_SECRET -u CRON_SECRET -u D365_WEBHOOK_SECRET -u DELIVERYD_CLUSTER_INSTANCES \
     DELIVERYD_CLUSTER_HTTP_PORT="$HTTP_PORT" DELIVERYD_CLUSTER_API_PORTS="$API1 $API2" \
     DELIVERYD_CLUSTER_PG_PORT="$PG_PORT" DELIVERYD_CLUSTER_REPLICA_PORT="$REPLICA_PORT" \
     DELIVERYD_CLUSTER_REDIS_PORT="$REDIS_PORT" DELIVERYD_BIN="$TOP/deliveryd" \
     "$COPY/scripts/cluster" "$@")
}

cleanup() {
  set +e
  if [ -d "$COPY" ]; then run_c destroy >/dev/null 2>&1; fi
  if [ -n "$PGC" ] && [ -d "$PGC" ]; then
    # destroy removes it; if it could not, remove it when it is this copy's.
    case $PGC in
      "$TOP"/*) ;;
      *) [ "$(cat "$PGC/clone" 2>/dev/null)" = "$COPY" ] && rm -rf "$PGC" ;;
    esac
  fi
  rmdir "$(_pg_home)/deliveryd" 2>/dev/null
  rm -rf "$TOP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chmod 700 "$TOP"
mkdir -m 700 "$COPY"
tar -C "$ROOT" --exclude='./build*' --exclude=./var --exclude=./.git -cf - . | tar -C "$COPY" -xf -
cp "$SRC_BIN" "$TOP/deliveryd"

if port_free 8088; then HTTP_PORT=8088; else HTTP_PORT=$(free_port); fi
API1=$(free_port); API2=$(free_port); PG_PORT=$(free_port); REPLICA_PORT=$(free_port); REDIS_PORT=$(free_port)
PGC=$(pg_cluster_dir "$COPY")
URL=http://127.0.0.1:$HTTP_PORT
echo "# copy: $COPY"
echo "# ports: nginx $HTTP_PORT, deliveryd $API1 $API2, primary $PG_PORT, replica $REPLICA_PORT, redis $REDIS_PORT"
echo "# PostgreSQL: $PGC"
if [ "$(id -u)" -eq 0 ] && [ -e "$PGC" ]; then echo "test_cluster: $PGC exists already" >&2; PGC=""; exit 1; fi

not_listening() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
json() { "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }
replica_q() { pg_psql "$REPLICA_PORT" "$1" -tAc "$2" 2>/dev/null; }
# api METHOD PATH [BODY] -> body in $TOP/body, status on stdout
api() {
  local args=(-s -m 10 -o "$TOP/body" -w '%{http_code}' -X "$1" "$URL$2" -H "Authorization: Bearer ${TOKEN:-}")
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}" || true
}

# 1. up
start=$(date +%s)
if run_c up >"$TOP/up.out" 2>&1; then ok "scripts/cluster up succeeds ($(($(date +%s) - start)) s)"; else
  fail "scripts/cluster up succeeds"; cat "$TOP/up.out"
  tail -n 30 "$COPY"/var/cluster/logs/* 2>/dev/null; echo "test_cluster: FAILED"; exit 1; fi
check "up prints the URL" grep -qF "deliveryd cluster: $URL" "$TOP/up.out"
check "up prints the admin login" grep -q '^  password: ' "$TOP/up.out"
check "up checked /health through nginx" grep -q '/health through nginx: 200' "$TOP/up.out"
check "up checked the replica" grep -q 'replica: in recovery, replays' "$TOP/up.out"
RUN=$COPY/var/cluster
check "secrets.env is mode 600" test "$(stat -c %a "$RUN/secrets.env")" = 600
check "admin.txt is mode 600" test "$(stat -c %a "$RUN/admin.txt")" = 600
if [ "$(id -u)" -eq 0 ]; then
  case $PGC in "$COPY"/*) fail "as root the PostgreSQL data is outside the clone" ;;
    *) ok "as root the PostgreSQL data is outside the clone ($PGC)" ;; esac
  check "primary/ and replica/ are owned by postgres" \
    test "$(stat -c %U "$PGC/primary/data")$(stat -c %U "$PGC/replica/data")" = postgrespostgres
fi
if run_c status >"$TOP/status.out" 2>&1; then ok "status: everything alive (exit 0)"; else
  fail "status: everything alive (exit 0)"; cat "$TOP/status.out"; fi
check "status shows the replica's lag" grep -q 'last replay:' "$TOP/status.out"
check "status compares receive and replay LSN" grep -q 'replayed all:' "$TOP/status.out"

# 2. The nginx configuration is deploy/nginx's, not a copy.
conf=$RUN/nginx.conf
for f in deliveryd-http.conf deliveryd-upstream.conf deliveryd-locations.conf; do
  check "the cluster's nginx.conf includes deploy/nginx/$f" grep -qF "include \"$COPY/deploy/nginx/$f\";" "$conf"
done
check "two server lines with the production passive health check" \
  test "$(grep -c "server 127.0.0.1:[0-9]* max_fails=3 fail_timeout=10s;" "$conf")" = 2
check "the upstream balances least_conn" grep -qx 'least_conn;' "$COPY/deploy/nginx/deliveryd-upstream.conf"
check "proxy_next_upstream never retries non-idempotent requests" \
  bash -c "grep -q '^proxy_next_upstream ' '$COPY/deploy/nginx/deliveryd-locations.conf' &&
           ! grep '^proxy_next_upstream ' '$COPY/deploy/nginx/deliveryd-locations.conf' | grep -q non_idempotent"
# The production site with the same shared files: nginx -t with a test
# certificate, local paths and free ports (nginx -t binds them): a checked
# variant, not what any install runs.
mkdir -p "$TOP/prod/logs"
ln -s "$COPY/deploy/nginx" "$TOP/prod/deliveryd"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test \
  -keyout "$TOP/prod/key.pem" -out "$TOP/prod/cert.pem" >/dev/null 2>&1
sed -e "s#/etc/ssl/deliveryd/fullchain.pem#$TOP/prod/cert.pem#; s#/etc/ssl/deliveryd/privkey.pem#$TOP/prod/key.pem#" \
    -e "s#/var/log/nginx/#$TOP/prod/logs/#; s/listen 80;/listen 127.0.0.1:$(free_port);/; s/listen 443/listen 127.0.0.1:$(free_port)/; /listen \[::\]/d" \
    "$COPY/deploy/nginx/deliveryd.conf" >"$TOP/prod/site.conf"
printf 'pid "%s/prod/nginx.pid";\nevents {}\nhttp { access_log "%s/prod/logs/access.log"; include "%s/prod/site.conf"; }\n' \
  "$TOP" "$TOP" "$TOP" >"$TOP/prod/nginx.conf"
check "the production site deploy/nginx/deliveryd.conf passes nginx -t" \
  nginx -t -q -p "$TOP/prod/" -c "$TOP/prod/nginx.conf" -e "$TOP/prod/logs/error.log"

# 3. Through nginx: login, a warehouse, an order.
password=$(sed -n 's/^password: //p' "$RUN/admin.txt")
TOKEN=""
code=$(api POST /api/v1/auth/login "{\"username\":\"admin\",\"password\":\"$password\"}")
check "login through nginx answers 200 ($code)" test "$code" = 200
TOKEN=$(json access_token <"$TOP/body" 2>/dev/null || true)
code=$(api POST /api/v1/warehouses "{\"code\":\"CL$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n' | tr a-f A-F)\",\"name\":\"Cluster warehouse\"}")
check "POST /warehouses through nginx answers 201 ($code)" test "$code" = 201
wid=$("$PY" -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["id"]))' <"$TOP/body" 2>/dev/null || echo null)
phone=5$(od -An -tu4 -N4 /dev/urandom | tr -d ' ' | cut -c1-7)
phone=$(printf '%-8s' "$phone" | tr ' ' 0)
code=$(api POST /api/v1/orders "{\"customer_name\":\"Cluster Customer\",\"customer_phone\":\"$phone\",\"warehouse_id\":$wid,\"delivery_address\":\"Salmiya, Block 10, Street 5\",\"area\":\"Salmiya\",\"amount\":\"12.500\",\"payment_method\":\"cash\"}")
check "POST /orders through nginx answers 201 ($code)" test "$code" = 201
oid=$(json id <"$TOP/body" 2>/dev/null || true)
[ -n "$oid" ] || { echo "# order answer: $(head -c 500 "$TOP/body")"; }

# 4. The replica: in recovery, and it has the order (bounded wait).
check "the replica is in recovery" test "$(replica_q postgres 'SELECT pg_is_in_recovery()')" = t
seen=""
for ((i = 0; i < 100; i++)); do
  [ "$(replica_q deliveryd "SELECT count(*) FROM orders WHERE id = '$oid'")" = 1 ] && { seen=1; break; }
  sleep 0.1
done
check "the order is on the replica" test -n "$seen"
code=$(api GET "/api/v1/orders/$oid")
check "GET the order through nginx answers 200 ($code)" test "$code" = 200

# 5. Both instances answered: requests in each daemon's log and /metrics.
for ((i = 0; i < 20; i++)); do api GET /api/v1/warehouses >/dev/null; done
for n in 1 2; do
  c=$(grep -c '"msg":"request"' "$RUN/logs/deliveryd-$n.log" || true)
  check "deliveryd-$n logged requests through nginx ($c)" test "${c:-0}" -gt 0
done
for p in "$API1" "$API2"; do
  check "127.0.0.1:$p/metrics counts requests" \
    bash -c "curl -s -m 5 http://127.0.0.1:$p/metrics | grep -q '^deliveryd_http_requests_total'"
done
ups=$(grep -o 'up=127.0.0.1:[0-9]*' "$RUN/nginx/logs/access.log" | sort -u | wc -l)
check "nginx's access log shows both upstreams ($ups)" test "$ups" = 2

# 6. One instance stopped: nginx routes around it; up starts it again.
pid2=$(cat "$RUN/pids/deliveryd-2.pid")
kill -TERM "$pid2"
for ((i = 0; i < 100; i++)); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
bad=0
for ((i = 0; i < 10; i++)); do [ "$(api GET /api/v1/warehouses)" = 200 ] || bad=$((bad + 1)); done
check "with deliveryd-2 stopped, 10 GETs through nginx all answer 200 ($bad failed)" test "$bad" = 0
if run_c status >/dev/null 2>&1; then fail "status exits non-zero while deliveryd-2 is down"; else
  ok "status exits non-zero while deliveryd-2 is down"; fi
if run_c up >"$TOP/up2.out" 2>&1; then ok "a second up starts deliveryd-2 again"; else
  fail "a second up starts deliveryd-2 again"; fi
check "the second up did not create another admin" bash -c "! grep -q 'creating the admin' '$TOP/up2.out'"
if run_c status >"$TOP/status2.out" 2>&1; then ok "status: everything alive again"; else
  fail "status: everything alive again"; cat "$TOP/status2.out"; fi

# 7. down: nothing left.
pids=$(cat "$RUN"/pids/*.pid "$RUN/redis/redis.pid" 2>/dev/null; head -n 1 "$PGC/primary/data/postmaster.pid" "$PGC/replica/data/postmaster.pid" 2>/dev/null | grep -E '^[0-9]+$' || true)
echo "# pids before down: $(tr "\n" " " <<<"$pids")"
start=$(date +%s)
if run_c down >"$TOP/down.out" 2>&1; then ok "scripts/cluster down succeeds ($(($(date +%s) - start)) s)"; else
  fail "scripts/cluster down succeeds"; cat "$TOP/down.out"; fi
alive=""
for p in $pids; do pid_running "$p" && alive="$alive $p"; done
check "no process of the cluster is left (${alive:-none})" test -z "$alive"
for p in "$HTTP_PORT" "$API1" "$API2" "$PG_PORT" "$REPLICA_PORT" "$REDIS_PORT"; do
  check "nothing listens on $p" not_listening "$p"
done
check "no pid files left" test -z "$(ls "$RUN/pids" 2>/dev/null)"
check "a second down is fine" run_c down
if run_c status >/dev/null 2>&1; then fail "status after down exits non-zero"; else ok "status after down exits non-zero"; fi

if [ "$FAILED" -ne 0 ]; then
  echo "--- scripts/cluster output ---"; cat "$TOP"/*.out 2>/dev/null
  tail -n 20 "$RUN"/logs/*.log "$RUN"/nginx/logs/error.log 2>/dev/null
  echo "test_cluster: FAILED"; exit 1
fi
echo "test_cluster: all passed"
