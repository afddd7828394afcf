#!/usr/bin/env bash
# Test of scripts/migrate against a throwaway PostgreSQL 15 cluster.
# Must run as root (the cluster runs as the postgres user, as scripts/lib/services.sh does).
#
#   tests/ops/test_migrate_script.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=scripts/lib/services.sh
. "$ROOT/scripts/lib/services.sh"

[ "$(id -u)" -eq 0 ] || { echo "test_migrate_script: must run as root" >&2; exit 2; }

TMP=$(mktemp -d /tmp/deliveryd-migrate-test.XXXXXX)
chmod 755 "$TMP" # the postgres user must reach $TMP/pg
cleanup() { pg_stop "$TMP/pg" || true; rm -rf "$TMP"; }
trap cleanup EXIT

FAILED=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILED=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

# The binary under test: $DELIVERYD_BIN (scripts/test passes its sanitizer
# build), else build/deliveryd, built when missing.
SRC_BIN=${DELIVERYD_BIN:-build/deliveryd}
if [ ! -x "$SRC_BIN" ]; then
  SRC_BIN=build/deliveryd
  echo "# building build/deliveryd" >&2
  { cmake -S . -B build && cmake --build build -j"$(nproc)"; } >"$TMP/build.log" 2>&1 ||
    { tail -n 40 "$TMP/build.log" >&2; echo "build failed" >&2; exit 1; }
fi

PORT=$(free_port)
pg_start "$TMP/pg" "$PORT" test
pg_createdb "$PORT" deliveryd_ops
psql_q() { pg_psql "$PORT" deliveryd_ops -tAc "$1"; }

unset MIGRATIONS_DIR SCHEMA_DIR PG_DUMP PG_RESTORE
# A private copy, so a concurrent rebuild of build/ cannot change it mid-test.
cp "$SRC_BIN" "$TMP/deliveryd"
export DELIVERYD_BIN=$TMP/deliveryd
export BACKUP_DIR=$TMP/backups
export DATABASE_URL=postgresql://postgres@127.0.0.1:$PORT/deliveryd_ops

# 1. A good run: backup first, then migrations applied.
if scripts/migrate >"$TMP/out" 2>"$TMP/err"; then ok "scripts/migrate succeeds"; else
  fail "scripts/migrate succeeds"; cat "$TMP/err"; echo "test_migrate_script: FAILED"; exit 1; fi
backup=$(tail -n 1 "$TMP/out")
check "prints the backup path under BACKUP_DIR" test "${backup%/deliveryd-*.dump}" = "$BACKUP_DIR"
check "backup file exists and is not empty" test -s "$backup"
check "backup file is mode 600" test "$(stat -c %a "$backup")" = 600
check "backup dir is mode 700" test "$(stat -c %a "$BACKUP_DIR")" = 700
check "pg_restore --list reads the backup" pg_restore --list --file=/dev/null "$backup"
applied=$(psql_q "SELECT count(*) FROM schema_migrations") || applied=0
files=$(find migrations -maxdepth 1 -name '*.sql' | wc -l)
check "schema_migrations has rows ($applied)" test "$applied" -gt 0
check "one row per migration file ($applied/$files)" test "$applied" = "$files"
repeatable=$(psql_q "SELECT count(*) FROM schema_repeatable") || repeatable=0
schema_files=$(find sql/schema -maxdepth 1 -name '*.sql' | wc -l)
check "one schema_repeatable row per sql/schema file ($repeatable/$schema_files)" \
  test "$repeatable" = "$schema_files"
repeatable_rows=$(psql_q "SELECT name, checksum, applied_at FROM schema_repeatable ORDER BY 1") ||
  repeatable_rows=error

# 2. A second run is a no-op for the schema but still takes its own backup.
sleep 1 # backups are named to the second
if scripts/migrate >"$TMP/out2" 2>"$TMP/err2"; then ok "a second run succeeds"; else
  fail "a second run succeeds"; cat "$TMP/err2"; fi
check "a second run writes a second backup" test "$(find "$BACKUP_DIR" -name 'deliveryd-*.dump' | wc -l)" = 2
check "a second run applies nothing new" test "$(psql_q "SELECT count(*) FROM schema_migrations" || echo error)" = "$applied"
check "a second run re-applies no sql/schema file" \
  test "$(psql_q "SELECT name, checksum, applied_at FROM schema_repeatable ORDER BY 1" || echo error)" = "$repeatable_rows"

# 3. pg_dump fails (no such database): refuse before migrating.
marker=$TMP/deliveryd-was-run
cat >"$TMP/fake-deliveryd" <<EOF
#!/bin/sh
touch "$marker"
EOF
chmod +x "$TMP/fake-deliveryd"
before=$(find "$BACKUP_DIR" -type f | wc -l)
rc=0
DATABASE_URL=postgresql://postgres@127.0.0.1:$PORT/no_such_database DELIVERYD_BIN=$TMP/fake-deliveryd \
  scripts/migrate >"$TMP/out3" 2>"$TMP/err3" || rc=$?
check "fails when pg_dump fails (exit $rc)" test "$rc" -ne 0
check "the message mentions the backup" grep -qi "backup" "$TMP/err3"
check "deliveryd migrate was not run" test ! -e "$marker"
check "no partial backup is left behind" test "$(find "$BACKUP_DIR" -type f | wc -l)" = "$before"
check "nothing printed on stdout" test ! -s "$TMP/out3"

# 4. pg_dump "succeeds" but writes nothing: refuse too.
printf '#!/bin/sh\nexit 0\n' >"$TMP/fake-pg_dump"
chmod +x "$TMP/fake-pg_dump"
rc=0
PG_DUMP=$TMP/fake-pg_dump DELIVERYD_BIN=$TMP/fake-deliveryd scripts/migrate >/dev/null 2>"$TMP/err4" || rc=$?
check "fails on an empty backup (exit $rc)" test "$rc" -ne 0
check "the message says the backup is empty" grep -qi "empty backup" "$TMP/err4"
check "deliveryd migrate was not run after an empty backup" test ! -e "$marker"

# 5. No DATABASE_URL: refuse.
rc=0
env -u DATABASE_URL DELIVERYD_BIN="$TMP/fake-deliveryd" scripts/migrate >/dev/null 2>"$TMP/err5" || rc=$?
check "fails without DATABASE_URL (exit $rc)" test "$rc" -ne 0
check "the message names DATABASE_URL" grep -q DATABASE_URL "$TMP/err5"
check "deliveryd migrate was not run without DATABASE_URL" test ! -e "$marker"

if [ "$FAILED" -ne 0 ]; then echo "test_migrate_script: FAILED"; exit 1; fi
echo "test_migrate_script: all passed"
