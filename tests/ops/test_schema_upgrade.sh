#!/usr/bin/env bash
# A database migrated by the files of commit e088859 (migrations 0001-0020,
# before sql/schema existed) upgrades cleanly with this tree's `deliveryd
# migrate`, against a throwaway PostgreSQL 15 cluster:
#   - the upgrade applies every sql/schema file and ends with the schema of a
#     fresh database migrated with this tree, which is docs/schema.sql;
#   - a second run applies nothing;
#   - a changed schema file is applied alone; a failing one is rolled back,
#     stops the run (exit non-zero, the file named) before the files after it;
#   - after a numbered migration every schema file is applied again, so one
#     that drops a view gets it back in the same run.
# Must run as root (the cluster runs as the postgres user, as scripts/lib/services.sh does).
#
#   tests/ops/test_schema_upgrade.sh
#   UPGRADE_FROM=<commit> tests/ops/test_schema_upgrade.sh   (default e088859)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=scripts/lib/services.sh
. "$ROOT/scripts/lib/services.sh"
# shellcheck source=scripts/lib/schema.sh
. "$ROOT/scripts/lib/schema.sh"

[ "$(id -u)" -eq 0 ] || { echo "test_schema_upgrade: must run as root" >&2; exit 2; }
FROM=${UPGRADE_FROM:-e088859}

TMP=$(mktemp -d /tmp/deliveryd-schema-upgrade.XXXXXX)
chmod 755 "$TMP" # the postgres user must reach $TMP/pg
cleanup() { pg_stop "$TMP/pg" || true; rm -rf "$TMP"; }
trap cleanup EXIT

FAILED=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILED=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

# The migrations as they were at $FROM. A shallow clone lacks the commit.
mkdir -p "$TMP/old"
if ! git -C "$ROOT" archive "$FROM" migrations 2>"$TMP/git.err" | tar -x -C "$TMP/old"; then
  # A shallow clone (a CI checkout) lacks the commit. Its files are this
  # tree's 0001-0020: a numbered migration never changes once applied
  # (migrate refuses a changed checksum), so they are the same bytes.
  [ "$FROM" = e088859 ] || { cat "$TMP/git.err" >&2; echo "test_schema_upgrade: cannot read the migrations of commit $FROM (git fetch --unshallow)" >&2; exit 1; }
  echo "# $FROM not in this clone: its migrations are this tree's 0001-0020" >&2
  rm -rf "$TMP/old/migrations"; mkdir -p "$TMP/old/migrations"
  for f in "$ROOT"/migrations/00[01][0-9]_*.sql "$ROOT"/migrations/0020_*.sql; do
    cp "$f" "$TMP/old/migrations/"
  done
fi
mkdir "$TMP/old/no-schema"

# The binary under test: $DELIVERYD_BIN (scripts/test passes its sanitizer
# build), else build/deliveryd, built when missing.
SRC_BIN=${DELIVERYD_BIN:-build/deliveryd}
if [ ! -x "$SRC_BIN" ]; then
  SRC_BIN=build/deliveryd
  echo "# building build/deliveryd" >&2
  { cmake -S . -B build && cmake --build build -j"$(nproc)"; } >"$TMP/build.log" 2>&1 ||
    { tail -n 40 "$TMP/build.log" >&2; echo "build failed" >&2; exit 1; }
fi
# A private copy, so a concurrent rebuild of build/ cannot change it mid-test.
cp "$SRC_BIN" "$TMP/deliveryd"
unset MIGRATIONS_DIR SCHEMA_DIR

PORT=$(free_port)
pg_start "$TMP/pg" "$PORT" test
for db in upgraded fresh; do pg_createdb "$PORT" "$db"; done
q() { pg_psql "$PORT" "$1" -v ON_ERROR_STOP=1 -tAc "$2"; }
# migrate DB MIGRATIONS_DIR SCHEMA_DIR OUT: deliveryd migrate, stderr to OUT
migrate() {
  env DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/$1" MIGRATIONS_DIR="$2" SCHEMA_DIR="$3" \
    "$TMP/deliveryd" migrate >"$4" 2>&1
}
rows() { q "$1" "SELECT name, checksum, applied_at FROM $2 ORDER BY 1" || echo error; }
dump_is() { # dump_is DB FILE: the schema of DB is FILE (diff on stdout otherwise)
  schema_dump "$PORT" "$1" >"$TMP/dump.sql" && diff -u "$2" "$TMP/dump.sql"
}

# 1. An existing database: $FROM's migrations as its deliveryd migrate left
#    them (it had no schema_repeatable), with some data.
if migrate upgraded "$TMP/old/migrations" "$TMP/old/no-schema" "$TMP/out1"; then
  ok "migrating with the files of $FROM"
else
  fail "migrating with the files of $FROM"; cat "$TMP/out1"; exit 1
fi
q upgraded "DROP TABLE schema_repeatable" >/dev/null
pg_psql "$PORT" upgraded -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO warehouses (code, name) VALUES ('WH1', 'Main');
INSERT INTO users (username, password_hash, role) VALUES ('d1', 'x', 'driver');
INSERT INTO drivers (user_id, code, vehicle_type)
  SELECT id, 'D1', 'car' FROM users WHERE username = 'd1';
INSERT INTO orders (order_number, warehouse_id, customer_name, customer_phone)
  SELECT 'SO-' || g, w.id, 'Customer ' || g, '+9655001' || lpad(g::text, 4, '0')
    FROM warehouses w, generate_series(1, 50) g;
SQL
schema_dump "$PORT" upgraded >"$TMP/old.sql"

# 2. The upgrade, with this tree's migrations and sql/schema.
if migrate upgraded "$ROOT/migrations" "$ROOT/sql/schema" "$TMP/out2"; then
  ok "upgrading with this tree"
else
  fail "upgrading with this tree"; cat "$TMP/out2"
fi
schema_files=$(find sql/schema -maxdepth 1 -name '*.sql' | wc -l)
check "the upgrade applies every sql/schema file ($schema_files)" \
  grep -q "^migrate: $schema_files schema files applied, 0 unchanged" "$TMP/out2"
check "schema_repeatable has one row per file" \
  test "$(q upgraded "SELECT count(*) FROM schema_repeatable")" = "$schema_files"

# 3. A fresh database migrated with this tree.
check "migrating a fresh database with this tree" \
  migrate fresh "$ROOT/migrations" "$ROOT/sql/schema" "$TMP/out3"

check "the upgraded schema is the fresh one" dump_is upgraded <(schema_dump "$PORT" fresh)
check "the upgraded schema is docs/schema.sql" dump_is upgraded docs/schema.sql
# (When sql/schema was introduced, the upgrade also had to leave every
# object of the $FROM schema as it was: sql/schema was a faithful copy. The
# schema has moved on since (0021-, the rule functions), so the upgraded
# schema is now held to the fresh one and docs/schema.sql, above.)
for t in schema_migrations schema_repeatable; do
  check "$t records the same files and checksums as on the fresh database" test \
    "$(q upgraded "SELECT name, checksum FROM $t ORDER BY 1")" = \
    "$(q fresh "SELECT name, checksum FROM $t ORDER BY 1")"
done
check "the orders read through api_orders after the upgrade" \
  test "$(q upgraded "SELECT count(*) FROM api_orders WHERE body->>'order_number' LIKE 'SO-%'")" = 50
check "the search finds an order of before the upgrade" \
  test "$(q upgraded "SELECT count(*) FROM order_search WHERE phone_digits LIKE '%50010007'")" = 1

# 4. A second run applies nothing.
before_m=$(rows upgraded schema_migrations) before_r=$(rows upgraded schema_repeatable)
check "a second run succeeds" migrate upgraded "$ROOT/migrations" "$ROOT/sql/schema" "$TMP/out4"
check "a second run applies no numbered migration" grep -q "^migrate: 0 applied" "$TMP/out4"
check "a second run applies no schema file" \
  grep -q "^migrate: 0 schema files applied, $schema_files unchanged" "$TMP/out4"
check "a second run leaves schema_migrations as it was" test "$(rows upgraded schema_migrations)" = "$before_m"
check "a second run leaves schema_repeatable as it was" test "$(rows upgraded schema_repeatable)" = "$before_r"

# 5. A changed file is applied alone.
cp -r sql/schema "$TMP/schema5"
printf '\n-- edited\n' >>"$TMP/schema5/orders.sql"
check "a run after editing orders.sql succeeds" \
  migrate upgraded "$ROOT/migrations" "$TMP/schema5" "$TMP/out5"
check "it applies orders.sql alone" test "$(grep -c '^migrate: applied ' "$TMP/out5")" = 1
check "it names orders.sql" grep -q "^migrate: applied .*/orders.sql$" "$TMP/out5"
check "it records orders.sql's new checksum" test \
  "$(q upgraded "SELECT checksum FROM schema_repeatable WHERE name = 'orders.sql'")" = \
  "$(sha256sum "$TMP/schema5/orders.sql" | cut -d' ' -f1)"
check "the schema is unchanged" dump_is upgraded docs/schema.sql

# 6. A failing file: rolled back, the run stops there with its name.
cp -r sql/schema "$TMP/schema6"
printf '\n-- edited\n' >>"$TMP/schema6/common.sql"
printf '\nDROP VIEW api_users;\nSELECT no_such_function();\n' >>"$TMP/schema6/users.sql"
printf '\n-- edited\n' >>"$TMP/schema6/warehouses.sql"
before_r=$(rows upgraded schema_repeatable)
rc=0
migrate upgraded "$ROOT/migrations" "$TMP/schema6" "$TMP/out6" || rc=$?
check "a failing schema file fails the run (exit $rc)" test "$rc" -ne 0
check "the message names the file" grep -q "users.sql failed: .*no_such_function" "$TMP/out6"
check "the message says the run stopped there" grep -q "stopped at .*users.sql" "$TMP/out6"
check "the file before it is applied" test \
  "$(q upgraded "SELECT checksum FROM schema_repeatable WHERE name = 'common.sql'")" = \
  "$(sha256sum "$TMP/schema6/common.sql" | cut -d' ' -f1)"
check "the failing file is not recorded" test \
  "$(q upgraded "SELECT name, checksum, applied_at FROM schema_repeatable WHERE name = 'users.sql'")" = \
  "$(echo "$before_r" | grep '^users.sql|')"
check "the file after it is not applied" test \
  "$(q upgraded "SELECT name, checksum, applied_at FROM schema_repeatable WHERE name = 'warehouses.sql'")" = \
  "$(echo "$before_r" | grep '^warehouses.sql|')"
check "the failing file was rolled back (api_users is still there)" dump_is upgraded docs/schema.sql
check "the next good run applies the remaining files" \
  migrate upgraded "$ROOT/migrations" "$ROOT/sql/schema" "$TMP/out6b"
check "and ends at docs/schema.sql" dump_is upgraded docs/schema.sql

# 7. A numbered migration that drops a view (and adds a column it shows):
#    every schema file is applied again in the same run, and the view is back.
cp -r migrations "$TMP/migrations7"
cat >"$TMP/migrations7/0999_test_drops_a_view.sql" <<'SQL'
DROP VIEW api_orders;
ALTER TABLE orders ADD COLUMN test_extra text;
SQL
check "a numbered migration that drops a view succeeds" \
  migrate fresh "$TMP/migrations7" "$ROOT/sql/schema" "$TMP/out7"
check "every schema file is applied again after it" \
  grep -q "^migrate: $schema_files schema files applied, 0 unchanged" "$TMP/out7"
check "api_orders is back, with the new column" \
  test "$(q fresh "SELECT count(*) FROM information_schema.columns
                    WHERE table_name = 'api_orders' AND column_name = 'test_extra'")" = 1

if [ "$FAILED" -ne 0 ]; then
  echo "--- migrate output ---"; tail -n 20 "$TMP"/out* 2>/dev/null || true
  echo "test_schema_upgrade: FAILED"; exit 1
fi
echo "test_schema_upgrade: all passed"
