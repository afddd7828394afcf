# shellcheck shell=bash
# The schema as docs/schema.sql records it: one definition of the dump, used
# by tests/sql/check_schema.sh (which scripts/dump-schema runs to rewrite the
# file) and tests/ops/test_schema_upgrade.sh.
#
# Source this file; it defines functions only and changes no shell options.
#
#   schema_dump PORT DB [PG_DUMP ARGS...]
#       pg_dump --schema-only of DB on 127.0.0.1:PORT (user postgres) without
#       owners, privileges and the migration bookkeeping tables
#       (schema_migrations, schema_repeatable: they are deliveryd migrate's,
#       not the application's), made stable: the "-- Dumped from/by" version
#       lines and the random \restrict key of newer pg_dump releases are
#       dropped and runs of blank lines squeezed to one (the \restrict line
#       comes with a blank line of its own).
#
# PostgreSQL 15's pg_dump ($PG_BIN, default /usr/lib/postgresql/15/bin):
# another major version prints the same schema differently.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

schema_dump() {
  local port=$1 db=$2
  shift 2
  local out
  # Captured first, so a failing pg_dump is a failure even without pipefail.
  out=$("$PG_BIN/pg_dump" -h 127.0.0.1 -p "$port" -U postgres --schema-only --no-owner \
          --no-privileges --exclude-table=public.schema_migrations \
          --exclude-table=public.schema_repeatable "$@" "$db") || return 1
  printf '%s\n' "$out" | grep -Ev '^(-- Dumped (from|by) |\\(un)?restrict )' | cat -s
}
