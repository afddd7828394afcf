#!/usr/bin/env bash
# scripts/run works wherever the clone is (issue 17): a copy of this clone in a
# fresh 0700 directory whose path contains a space runs `scripts/run services`
# (PostgreSQL + Redis, createdb, migrate, demo admin) on free ports, answers a
# psql query and /health, survives a second start, and `scripts/run stop`
# leaves nothing running. As root this is the "clone in root's 0700 home" case
# (the cluster then lives outside the clone, owned by postgres); as another
# user PostgreSQL runs as that user under the copy's var/pg.
#
#   DELIVERYD_BIN=build-asan/deliveryd tests/ops/test_run_anywhere.sh
#
# Builds nothing: the binary is $DELIVERYD_BIN, else build-asan/deliveryd, else
# build/deliveryd. Binds 127.0.0.1 only; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd -P)
# shellcheck source=scripts/lib/services.sh
. "$ROOT/scripts/lib/services.sh"
unset DELIVERYD_PG_DIR # the default location is what is under test

SRC_BIN=${DELIVERYD_BIN:-}
for b in "$SRC_BIN" build-asan/deliveryd build/deliveryd; do
  if [ -n "$b" ] && [ -x "$b" ]; then SRC_BIN=$b; break; fi
done
if [ -z "$SRC_BIN" ] || [ ! -x "$SRC_BIN" ]; then
  echo "test_run_anywhere: no deliveryd binary (set DELIVERYD_BIN or build build-asan/)" >&2; exit 2
fi

FAILED=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILED=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

TOP=$(mktemp -d /tmp/deliveryd-run-anywhere.XXXXXX)
HOME_DIR="$TOP/home dir"          # a space, like "/home/some user"
COPY="$HOME_DIR/deliveryd clone"  # and another one in the clone's own name
PG_DIR=""
SERVE_PID=""

cleanup() {
  set +e
  if [ -n "$SERVE_PID" ]; then kill -KILL "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; fi
  if [ -d "$COPY" ]; then
    run_copy stop >/dev/null 2>&1
    redis_stop "$COPY/var/redis"
  fi
  if [ -n "$PG_DIR" ]; then
    pg_stop "$PG_DIR"
    # The cluster outside the copy (root): remove it only if it is the copy's.
    case $PG_DIR in
      "$TOP"/*) ;;
      *) if [ "$(cat "$PG_DIR/clone" 2>/dev/null)" = "$COPY" ]; then
           rm -rf "$PG_DIR"
           rmdir "$(dirname "$PG_DIR")" 2>/dev/null # .../deliveryd, when no other cluster is left
         fi ;;
    esac
  fi
  rm -rf "$TOP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chmod 700 "$TOP"
mkdir -m 700 "$HOME_DIR" "$COPY"
# A copy of the working tree (what scripts/run needs: scripts/, migrations/),
# without builds, var/ and .git.
tar -C "$ROOT" --exclude='./build*' --exclude=./var --exclude=./.git -cf - . | tar -C "$COPY" -xf -
# A private copy of the binary, so a concurrent rebuild cannot change it mid-test.
cp "$SRC_BIN" "$TOP/deliveryd"

PG_PORT=$(free_port)
REDIS_PORT=$(free_port)
HTTP_PORT=$(free_port)
EXPECT_PG_DIR=$(pg_clone_dir "$COPY")
PG_DIR=$EXPECT_PG_DIR
echo "# copy: $COPY"
echo "# ports: PostgreSQL $PG_PORT, Redis $REDIS_PORT, HTTP $HTTP_PORT; cluster $PG_DIR"
if [ "$(id -u)" -eq 0 ]; then
  case $PG_DIR in
    "$COPY"/*) fail "as root the cluster is outside the clone ($PG_DIR)" ;;
    *) ok "as root the cluster is outside the clone" ;;
  esac
  [ ! -e "$PG_DIR" ] || { echo "test_run_anywhere: $PG_DIR exists already" >&2; PG_DIR=""; exit 1; }
else
  check "as $(id -un) the cluster is the copy's var/pg" test "$PG_DIR" = "$COPY/var/pg"
fi

# Runs the copy's scripts/run from another directory, with a clean environment
# for what it reads.
run_copy() {
  (cd / && env -u DATABASE_URL -u REDIS_URL -u PORT -u STORAGE_DIR -u MIGRATIONS_DIR \
     -u JWT_SECRET -u CRON_SECRET -u D365_WEBHOOK_SECRET -u DELIVERYD_PG_DIR \
     DELIVERYD_PG_PORT="$PG_PORT" DELIVERYD_REDIS_PORT="$REDIS_PORT" DELIVERYD_BIN="$TOP/deliveryd" \
     "$COPY/scripts/run" "$@")
}
run_quiet() { run_copy "$@" >>"$TOP/out-quiet" 2>&1; }
not_listening() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
not_in() { ! grep -qF -- "$2" "$1"; }
# pgrep in this shell: a "bash -c" around it would match its own pattern.
no_process() { ! pgrep -f -- "$1" >/dev/null; }
psql_q() { pg_psql "$PG_PORT" deliveryd -tAc "$1" 2>/dev/null; }

# 1. First start.
if run_copy services >"$TOP/out1" 2>&1; then ok "scripts/run services succeeds"; else
  fail "scripts/run services succeeds"; cat "$TOP/out1"; echo "test_run_anywhere: FAILED"; exit 1; fi
check "it prints where the PostgreSQL data lives" grep -qF "PostgreSQL data: $PG_DIR" "$TOP/out1"
check "it prints where the Redis data lives" grep -qF "Redis data:      $COPY/var/redis" "$TOP/out1"
check "the cluster is in $PG_DIR" test -f "$PG_DIR/data/PG_VERSION"
if [ "$(id -u)" -eq 0 ]; then
  check "the cluster directory is owned by postgres" test "$(stat -c %U "$PG_DIR")" = postgres
  check "the cluster names its clone" test "$(cat "$PG_DIR/clone" 2>/dev/null)" = "$COPY"
  check "the copy has no var/pg" test ! -e "$COPY/var/pg"
fi
files=$(find "$COPY/migrations" -maxdepth 1 -name '*.sql' | wc -l)
check "psql: every migration applied ($files)" test "$(psql_q "SELECT count(*) FROM schema_migrations")" = "$files"
check "psql: the demo admin exists" test "$(psql_q "SELECT count(*) FROM users WHERE username = 'admin'")" = 1
check "the demo admin's login is in var/demo-admin.txt" grep -q '^password: ' "$COPY/var/demo-admin.txt"
check "Redis answers PING" test "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG
if [ -d "$PG_DIR/sock" ]; then
  check "psql over the unix socket in $PG_DIR/sock" \
    test "$("$PG_BIN/psql" -X -tAc 'SELECT 1' -h "$PG_DIR/sock" -p "$PG_PORT" -U postgres -d deliveryd 2>/dev/null)" = 1
fi

# 2. The daemon serves against them: /health.
(
  set -a
  # shellcheck disable=SC1091
  . "$COPY/var/secrets.env"
  set +a
  cd "$COPY" &&
  exec env DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/deliveryd" \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" BIND_ADDRESS=127.0.0.1 PORT="$HTTP_PORT" \
    STORAGE_DIR="$COPY/var/storage" MIGRATIONS_DIR="$COPY/migrations" THREADS=2 LOG_LEVEL=warn \
    "$TOP/deliveryd" serve
) >"$TOP/serve.log" 2>&1 &
SERVE_PID=$!
health=""
for ((i = 0; i < 100; i++)); do
  health=$(curl -s -m 2 "http://127.0.0.1:$HTTP_PORT/health" 2>/dev/null) && [ -n "$health" ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
check "/health answers ok ($health)" grep -q '"ok"' <<<"$health"
kill -TERM "$SERVE_PID" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$SERVE_PID" 2>/dev/null || true
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""

# 3. A second start while running: a no-op on the same cluster.
password=$(sed -n 's/^password: //p' "$COPY/var/demo-admin.txt")
if run_copy services >"$TOP/out2" 2>&1; then ok "a second scripts/run services succeeds"; else
  fail "a second scripts/run services succeeds"; cat "$TOP/out2"; fi
check "the second start uses the same cluster" grep -qF "PostgreSQL data: $PG_DIR" "$TOP/out2"
check "the second start applies nothing" grep -q "0 applied" "$TOP/out2"
check "the second start keeps the demo admin" test "$(sed -n 's/^password: //p' "$COPY/var/demo-admin.txt")" = "$password"

# 4. Stop: nothing left running.
if run_copy stop >"$TOP/out3" 2>&1; then ok "scripts/run stop succeeds"; else
  fail "scripts/run stop succeeds"; cat "$TOP/out3"; fi
check "the stop message names the cluster" grep -qF "$PG_DIR" "$TOP/out3"
check "no postmaster.pid left" test ! -e "$PG_DIR/data/postmaster.pid"
check "no redis.pid left" test ! -e "$COPY/var/redis/redis.pid"
check "nothing listens on the PostgreSQL port" not_listening "$PG_PORT"
check "nothing listens on the Redis port" not_listening "$REDIS_PORT"
check "no postgres runs on the cluster" no_process "-D $PG_DIR/data"
check "no redis-server runs on the port" no_process "redis-server 127.0.0.1:$REDIS_PORT"
check "a second stop is a no-op" run_quiet stop

# 5. Start again after the stop: the same cluster, data kept.
if run_copy services >"$TOP/out4" 2>&1; then ok "scripts/run services after a stop succeeds"; else
  fail "scripts/run services after a stop succeeds"; cat "$TOP/out4"; fi
check "the restart uses the same cluster" grep -qF "PostgreSQL data: $PG_DIR" "$TOP/out4"
check "the restart keeps the data (no new demo admin)" not_in "$TOP/out4" 'creating the demo admin'
check "psql after the restart" test "$(psql_q "SELECT count(*) FROM users WHERE username = 'admin'")" = 1
check "scripts/run stop after the restart" run_quiet stop
check "nothing listens on the PostgreSQL port after the last stop" not_listening "$PG_PORT"
check "nothing listens on the Redis port after the last stop" not_listening "$REDIS_PORT"

if [ "$FAILED" -ne 0 ]; then
  echo "--- scripts/run output ---"; cat "$TOP"/out* 2>/dev/null
  echo "test_run_anywhere: FAILED"; exit 1
fi
echo "test_run_anywhere: all passed"
