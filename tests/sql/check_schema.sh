#!/usr/bin/env bash
# Applies every migration (migrations/*.sql in order), then the repeatable
# schema files (sql/schema/*.sql in order), to a throwaway PostgreSQL 15
# cluster, as `deliveryd migrate` does on a fresh database, and checks:
#   - two applications give the same schema and seed data;
#   - applying sql/schema again changes nothing (the files are repeatable);
#   - the schema is docs/schema.sql (scripts/lib/schema.sh's dump);
#   - re-applying 0001 fails; sanity checks of the functions and views.
# Needs only the PostgreSQL server binaries.
#   tests/sql/check_schema.sh            (from anywhere; finds the repo itself)
#   tests/sql/check_schema.sh --write    rewrite docs/schema.sql instead of
#                                        comparing (what scripts/dump-schema runs)
#   PG_BIN=/path/to/bin tests/sql/check_schema.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MIGRATION="$ROOT/migrations/0001_init.sql"
SCHEMA_DOC="$ROOT/docs/schema.sql"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
# shellcheck source=scripts/lib/schema.sh
. "$ROOT/scripts/lib/schema.sh"
WRITE=0
case "${1:-}" in
  "") ;;
  --write) WRITE=1 ;;
  *) echo "usage: tests/sql/check_schema.sh [--write]" >&2; exit 2 ;;
esac
[ -x "$PG_BIN/initdb" ] || { echo "check_schema: no initdb in $PG_BIN" >&2; exit 1; }
[ -r "$MIGRATION" ] || { echo "check_schema: cannot read $MIGRATION" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/deliveryd-schema.XXXXXX")"

# initdb and postgres refuse to run as root: use the postgres account then.
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$TMP"
  AS_PG=(runuser -u postgres --)
else
  AS_PG=()
fi

cleanup() {
  local rc=$?
  if [ -f "$TMP/data/postmaster.pid" ]; then
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ $rc -ne 0 ] && [ -f "$TMP/server.log" ]; then
    echo "--- server log ---" >&2
    tail -n 30 "$TMP/server.log" >&2 || true
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT INT TERM

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 40000 ))
    # Connecting fails when nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "check_schema: no free port found" >&2
  return 1
}

"${AS_PG[@]}" "$PG_BIN/initdb" -D "$TMP/data" -U postgres --auth=trust \
  --encoding=UTF8 --locale=C.UTF-8 >"$TMP/initdb.log" 2>&1 \
  || { cat "$TMP/initdb.log" >&2; exit 1; }

PORT="$(free_port)"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$TMP/data" -l "$TMP/server.log" -w \
  -o "-p $PORT -k $TMP -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null

PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)

"${PSQL[@]}" -d postgres -c 'CREATE DATABASE deliveryd_a' -c 'CREATE DATABASE deliveryd_b'

for m in "$ROOT"/migrations/*.sql "$ROOT"/sql/schema/*.sql; do
  echo "check_schema: applying ${m#"$ROOT"/}"
  "${PSQL[@]}" -d deliveryd_a --single-transaction -f "$m"
  "${PSQL[@]}" -d deliveryd_b --single-transaction -f "$m"
done

# docs/schema.sql is what the files produce.
schema_dump "$PORT" deliveryd_a >"$TMP/schema.sql"
if [ "$WRITE" = 1 ]; then
  cp "$TMP/schema.sql" "$SCHEMA_DOC"
  echo "check_schema: wrote ${SCHEMA_DOC#"$ROOT"/}"
  exit 0
fi
if ! diff -u "$SCHEMA_DOC" "$TMP/schema.sql" >&2; then
  echo "check_schema: FAIL docs/schema.sql is not the schema that migrations/ and sql/schema/" \
       "produce (diff above: - committed, + produced); regenerate it with scripts/dump-schema" \
       "and commit it" >&2
  exit 1
fi

# Repeatable: applying sql/schema once more leaves schema and data as they were.
for m in "$ROOT"/sql/schema/*.sql; do
  "${PSQL[@]}" -d deliveryd_b --single-transaction -f "$m"
done

# Deterministic: two applications give the same schema and seed data.
"$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres --no-owner deliveryd_a \
  | grep -Ev '^(-- Dumped|\\(un)?restrict )' >"$TMP/a.sql"
"$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres --no-owner deliveryd_b \
  | grep -Ev '^(-- Dumped|\\(un)?restrict )' >"$TMP/b.sql"
# Newer pg_dump adds a random \restrict key; settings.updated_at is now().
sed -i -E 's/\t[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.+]+\t\\N$/\tTS\t\\N/' "$TMP/a.sql" "$TMP/b.sql"
if ! diff -u "$TMP/a.sql" "$TMP/b.sql" >&2; then
  echo "check_schema: FAIL two applications differ (or sql/schema/ is not repeatable:" \
       "deliveryd_b had it applied twice)" >&2
  exit 1
fi

# Applying again must fail (no IF NOT EXISTS hiding a half-applied state),
# and must leave nothing behind since it runs in one transaction.
if "${PSQL[@]}" -d deliveryd_b --single-transaction -f "$MIGRATION" >/dev/null 2>&1; then
  echo "check_schema: FAIL re-applying the migration succeeded" >&2
  exit 1
fi

"${PSQL[@]}" -d deliveryd_a <<'SQL'
\set QUIET on
SET client_min_messages = warning;

DO $$
DECLARE
  wh bigint; mgr bigint; du bigint; drv bigint; ord bigint; ord2 bigint;
  b json; s text; n int; t1 timestamptz; t2 timestamptz;
BEGIN
  -- Whatever the session time zone, output is UTC with Z.
  SET LOCAL TimeZone = 'Asia/Kuwait';

  ASSERT api_ts(NULL) IS NULL, 'api_ts(NULL)';
  s := api_ts('2026-11-24 11:15:00+03');
  ASSERT s = '2026-11-24T08:15:00Z', format('api_ts whole second: %s', s);
  s := api_ts('2026-11-24 08:15:00.5Z');
  ASSERT s = '2026-11-24T08:15:00.500Z', format('api_ts fraction: %s', s);
  s := api_ts('2026-01-02 03:04:05.123456Z');
  ASSERT s = '2026-01-02T03:04:05.123Z', format('api_ts micro: %s', s);
  s := api_ts(now());
  ASSERT s LIKE '%Z', format('api_ts(now()) ends with Z: %s', s);

  SELECT count(*) INTO n FROM settings;
  ASSERT n = 25, format('settings seeded: %s', n);
  ASSERT (SELECT value FROM settings WHERE key = 'business_timezone') = '"Asia/Kuwait"'::jsonb, 'tz';
  ASSERT (SELECT jsonb_array_length(value) FROM settings WHERE key = 'failure_reason_codes') = 8, 'codes';
  ASSERT (SELECT count(*) FROM settings, jsonb_object_keys(value) WHERE key = 'import_column_aliases') = 19, 'aliases';

  INSERT INTO warehouses (code, name, latitude, longitude)
  VALUES ('WH1', 'Main', 29.3759, 47.9774) RETURNING id INTO wh;
  BEGIN
    INSERT INTO warehouses (code, name) VALUES ('wh1', 'dup');
    RAISE EXCEPTION 'case-insensitive duplicate warehouse code accepted';
  EXCEPTION WHEN unique_violation THEN NULL;
  END;

  INSERT INTO users (username, password_hash, full_name, role, phone, email)
  VALUES ('Manager1', 'x', 'Mana Ger', 'manager', '+96550012345', 'M@example.com') RETURNING id INTO mgr;
  BEGIN
    INSERT INTO users (username, password_hash, role) VALUES ('manager1', 'x', 'admin');
    RAISE EXCEPTION 'case-insensitive duplicate username accepted';
  EXCEPTION WHEN unique_violation THEN NULL;
  END;
  BEGIN
    INSERT INTO users (username, password_hash, role) VALUES ('x', 'x', 'root');
    RAISE EXCEPTION 'bad role accepted';
  EXCEPTION WHEN check_violation THEN NULL;
  END;

  INSERT INTO users (username, password_hash, full_name, role, warehouse_id)
  VALUES ('driver1', 'x', 'Dri Ver', 'driver', wh) RETURNING id INTO du;
  INSERT INTO drivers (user_id, code, phone, vehicle_type, warehouse_id)
  VALUES (du, 'D1', '+96560012345', 'car', wh) RETURNING id INTO drv;

  SELECT body INTO b FROM api_drivers WHERE id = drv;
  ASSERT b->>'full_name' = 'Dri Ver', format('driver body: %s', b);
  ASSERT json_typeof(b->'last_location') = 'null', format('no location yet: %s', b);

  INSERT INTO driver_locations (driver_id, latitude, longitude, heading, recorded_at)
  VALUES (drv, 29.37, 47.97, 90, '2026-11-24 08:00:00Z');
  BEGIN
    INSERT INTO driver_locations (driver_id, latitude, longitude, recorded_at)
    VALUES (drv, 29.38, 47.98, '2026-11-24 08:00:00Z');
    RAISE EXCEPTION 'duplicate (driver_id, recorded_at) accepted';
  EXCEPTION WHEN unique_violation THEN NULL;
  END;
  BEGIN
    INSERT INTO driver_locations (driver_id, latitude, longitude, recorded_at)
    VALUES (drv, 91, 47.98, '2026-11-24 08:00:01Z');
    RAISE EXCEPTION 'latitude 91 accepted';
  EXCEPTION WHEN check_violation THEN NULL;
  END;

  -- Telemetry does not bump updated_at; a profile edit does. (now() is fixed
  -- within this transaction, so start from a visibly old value.)
  UPDATE drivers SET updated_at = '2000-01-01Z' WHERE id = drv;
  ASSERT (SELECT updated_at FROM drivers WHERE id = drv) = '2000-01-01Z', 'updated_at preset';
  UPDATE drivers SET last_latitude = 29.37, last_longitude = 47.97,
         last_recorded_at = '2026-11-24 08:00:00Z', last_seen_at = now(), is_online = true
   WHERE id = drv;
  ASSERT (SELECT updated_at FROM drivers WHERE id = drv) = '2000-01-01Z', 'telemetry bumped updated_at';
  UPDATE drivers SET vehicle_type = 'van' WHERE id = drv;
  ASSERT (SELECT updated_at FROM drivers WHERE id = drv) = now(), 'profile edit did not bump updated_at';
  UPDATE warehouses SET updated_at = '2000-01-01Z' WHERE id = wh;
  ASSERT (SELECT updated_at FROM warehouses WHERE id = wh) = now(), 'warehouses trigger';
  SELECT body INTO b FROM api_drivers WHERE id = drv;
  ASSERT b->'last_location'->>'recorded_at' = '2026-11-24T08:00:00Z', format('last_location: %s', b);

  INSERT INTO work_sessions (driver_id) VALUES (drv);
  BEGIN
    INSERT INTO work_sessions (driver_id) VALUES (drv);
    RAISE EXCEPTION 'second open session accepted';
  EXCEPTION WHEN unique_violation THEN NULL;
  END;

  -- No order_number: filled as MAN-<id>.
  INSERT INTO orders (warehouse_id, customer_name, customer_phone, delivery_address, area,
                      paci_number, amount, payment_method, customer_info, created_by)
  VALUES (wh, 'Fatima Al-Sabah', '+96550012345', 'Block 5, Street 12', 'Salmiya',
          '12345678', 12.5, 'cash', '{"Extra Col": "x"}', mgr)
  RETURNING id INTO ord;
  SELECT body INTO b FROM api_orders WHERE id = ord;
  ASSERT b->>'order_number' = 'MAN-' || lpad(ord::text, 6, '0'), format('order_number: %s', b);
  ASSERT b->>'amount' = '12.500', format('amount: %s', b->'amount');
  ASSERT b->>'status' = 'pending', 'status';
  ASSERT json_typeof(b->'delivery_time') = 'null', 'delivery_time null';
  ASSERT b->>'created_at' LIKE '%Z', format('created_at: %s', b->'created_at');
  ASSERT b->>'tracking_token' ~ '^[0-9a-f]{64}$', 'tracking token';
  -- 0008: creation microseconds first (so a day's tokens share index leaves)
  ASSERT abs(('x' || lpad(left(b->>'tracking_token', 14), 16, '0'))::bit(64)::bigint
             - extract(epoch FROM now()) * 1000000) < 60000000,
         format('tracking token time prefix: %s', b->>'tracking_token');
  ASSERT (SELECT reloptions FROM pg_class WHERE relname = 'orders') @> ARRAY['fillfactor=85'],
         'orders fillfactor';
  ASSERT b->'customer_info'->>'Extra Col' = 'x', 'customer_info';
  ASSERT (SELECT array_agg(k ORDER BY ord_) FROM json_object_keys(b) WITH ORDINALITY AS j(k, ord_))
       = ARRAY['id','order_number','source','status','warehouse_id','driver_id','customer_name',
               'customer_phone','delivery_address','area','block','street','avenue','building',
               'floor','apartment','paci_number','delivery_latitude','delivery_longitude','coordinates_source',
               'customer_info','amount','payment_method','notes','failure_reason',
               'failure_reason_code','cancel_reason','estimated_delivery_time','assigned_at',
               'picked_up_at','delivered_at','failed_at','cancelled_at','returned_at',
               'delivery_time_seconds','delivery_time','is_archived','archived_at',
               'tracking_token','created_at','updated_at','version'],
         format('order keys: %s', b);

  ASSERT (SELECT phone_digits(o) FROM orders o WHERE id = ord) = '96550012345', 'phone_digits';
  ASSERT EXISTS (SELECT 1 FROM orders o WHERE search_text(o) LIKE '%salmiya%' AND id = ord),
         'search_text';
  -- the previous release's SQL says o.search_text / o.phone_digits (0012)
  ASSERT (SELECT (o.search_text, o.phone_digits) = (search_text(o), phone_digits(o))
            FROM orders o WHERE id = ord), 'attribute notation of the search functions';
  -- the search side table follows inserts and edits of the searched fields
  ASSERT (SELECT (s.search_text, s.phone_digits) = (search_text(o), phone_digits(o))
            FROM order_search s JOIN orders o ON o.id = s.order_id WHERE o.id = ord),
         'order_search row of a new order';
  UPDATE orders SET customer_name = 'Renamed Customer', customer_phone = '+96560001111'
   WHERE id = ord;
  ASSERT (SELECT search_text LIKE '%renamed customer%' AND phone_digits = '96560001111'
            FROM order_search WHERE order_id = ord), 'order_search after an edit';

  INSERT INTO order_status_history (order_id, from_status, to_status, changed_by)
  VALUES (ord, NULL, 'pending', mgr);

  BEGIN
    UPDATE orders SET status = 'assigned' WHERE id = ord;
    RAISE EXCEPTION 'assigned without driver accepted';
  EXCEPTION WHEN check_violation THEN NULL;
  END;
  BEGIN
    INSERT INTO orders (order_number, warehouse_id, status) VALUES ('BAD-1', wh, 'lost');
    RAISE EXCEPTION 'bad status accepted';
  EXCEPTION WHEN check_violation THEN NULL;
  END;

  UPDATE orders SET status = 'delivered', driver_id = drv,
         picked_up_at = '2026-11-24 08:00:00Z', delivered_at = '2026-11-25 09:30:59Z',
         version = version + 1
   WHERE id = ord;
  SELECT body INTO b FROM api_orders WHERE id = ord;
  ASSERT (b->>'delivery_time_seconds')::bigint = 91859, format('seconds: %s', b->'delivery_time_seconds');
  ASSERT b->>'delivery_time' = '25:30', format('delivery_time: %s', b->'delivery_time');
  ASSERT b->>'delivered_at' = '2026-11-25T09:30:59Z', 'delivered_at';

  INSERT INTO orders (order_number, warehouse_id) VALUES ('SO-1', wh) RETURNING id INTO ord2;
  BEGIN
    INSERT INTO orders (order_number, warehouse_id) VALUES ('SO-1', wh);
    RAISE EXCEPTION 'duplicate order_number accepted';
  EXCEPTION WHEN unique_violation THEN NULL;
  END;

  INSERT INTO payment_collections (order_id, driver_id, method, amount, expected_amount)
  VALUES (ord, drv, 'cash', 12.5, 12.5);
  SELECT body INTO b FROM api_payments WHERE order_id = ord;
  ASSERT b->>'amount' = '12.500' AND b->>'status' = 'unpaid', format('payment: %s', b);

  -- one sla_breach per manager, order and deadline (migration 0019)
  INSERT INTO notifications (user_id, type, title, body, order_id, data)
  VALUES (mgr, 'sla_breach', 'Late', 'Order is late', ord2, '{"due_at": "2026-01-01T10:00:00Z"}');
  INSERT INTO notifications (user_id, type, title, body, order_id, data)
  VALUES (mgr, 'sla_breach', 'Late', 'Order is late', ord2, '{"due_at": "2026-01-01T10:00:00Z"}')
  ON CONFLICT (user_id, order_id, (data ->> 'due_at')) WHERE type = 'sla_breach' DO NOTHING;
  ASSERT (SELECT count(*) FROM notifications) = 1, 'sla_breach dedup';
  INSERT INTO notifications (user_id, type, title, body, order_id, data)
  VALUES (mgr, 'sla_breach', 'Late', 'Order is late', ord2, '{"due_at": "2026-01-01T12:00:00Z"}')
  ON CONFLICT (user_id, order_id, (data ->> 'due_at')) WHERE type = 'sla_breach' DO NOTHING;
  ASSERT (SELECT count(*) FROM notifications) = 2, 'sla_breach again for a new deadline';
  SELECT body INTO b FROM api_notifications WHERE user_id = mgr;
  ASSERT b->>'body' = 'Order is late' AND b->>'type' = 'sla_breach', format('notification: %s', b);

  SELECT body INTO b FROM api_users WHERE id = mgr;
  ASSERT b->>'password_hash' IS NULL AND b->>'username' = 'Manager1', format('user: %s', b);
  SELECT body INTO b FROM api_warehouses WHERE id = wh;
  ASSERT b->>'code' = 'WH1', format('warehouse: %s', b);

  INSERT INTO suggestion_decisions (order_id, suggested_driver_ids, chosen_driver_id, chosen_rank)
  VALUES (ord2, ARRAY[drv], drv, 1);
  BEGIN
    INSERT INTO suggestion_decisions (order_id, suggested_driver_ids, chosen_driver_id, chosen_rank)
    VALUES (ord2, ARRAY[drv], drv, 2);
    RAISE EXCEPTION 'inconsistent chosen_rank accepted';
  EXCEPTION WHEN check_violation THEN NULL;
  END;

  INSERT INTO imports (file_sha256) VALUES (repeat('ab', 32));
  BEGIN
    INSERT INTO imports (file_sha256) VALUES (repeat('ab', 32));
    RAISE EXCEPTION 'duplicate import accepted';
  EXCEPTION WHEN unique_violation THEN NULL;
  END;
END
$$;

-- api_ts is STABLE and not STRICT so the planner can inline it into the views.
DO $$
BEGIN
  ASSERT (SELECT provolatile = 's' AND NOT proisstrict FROM pg_proc WHERE proname = 'api_ts'),
         'api_ts must be STABLE and not STRICT (inlinable)';
END
$$;

-- The trigram index serves a search.
SET enable_seqscan = off;
DO $$
DECLARE plan text := '';
        r record;
BEGIN
  FOR r IN EXPLAIN (COSTS OFF) SELECT order_id FROM order_search WHERE search_text LIKE '%salmiya%' LOOP
    plan := plan || r."QUERY PLAN" || E'\n';
  END LOOP;
  ASSERT plan LIKE '%order_search_text_trgm_idx%', format('trigram index unused: %s', plan);
END
$$;
SQL

echo "check_schema: OK"
