-- The import job (src/service/import.c) and the D365 webhook's single-order
-- upsert, which loads through the same temporary table and upsert. The COPY
-- into import_rows stays in C (COPY text takes no parameters); a
-- transaction's BEGIN with its settings is one script (simple protocol).

-- name: import_warehouses
-- Every warehouse, for resolving a row's warehouse_code by code, else name,
-- and whether it takes new orders (a deactivated one does not).
SELECT id, lower(code), lower(name), is_active FROM warehouses;

-- name: import_stage_create
-- The staging table of one transaction's rows, in COPY column order (the
-- import's copy_cols).
CREATE TEMP TABLE import_rows (row_number int, warehouse_id bigint, customer_info jsonb,
 tracking_token text,
 order_number text, customer_name text, customer_phone text, delivery_address text,
 area text, block text, street text, avenue text, building text, floor text,
 apartment text, paci_number text, delivery_latitude float8, delivery_longitude float8,
 amount numeric, payment_method text, notes text, eta text) ON COMMIT DROP;

-- name: import_stage_truncate
-- The next chunk of the same transaction.
TRUNCATE import_rows;

-- name: import_upsert
-- The one upsert: new orders are created, pending ones updated, others
-- (and other warehouses' for a scoped manager) left alone, and so is a
-- pending order the row would not change (no new version, no updated_at:
-- open dashboards keep their version after a daily re-export; counted as
-- skipped). orders.created_by stays NULL: the uploader is the imports row's
-- uploaded_by and the first history row's changed_by (one FK check per row
-- less, ~14 ms per 2,000). The ETA is order_eta() (sql/schema/
-- order_rules.sql), as on every path. An update sets only the columns the
-- file has (or the webhook event names): $5 lists them, and any other
-- column keeps its stored value. Sent unnamed (planned each time), so
-- PostgreSQL plans it with $5's value and folds each CASE to one side.
-- Sent without waiting (db_send): the import reads its next rows meanwhile.
-- A row without coordinates gets the learned point of its phone and address
-- (learned_point(), sql/schema/where_delivered.sql; coordinates_source
-- 'learned'), given ones are 'order'.
-- The outbox: order.created for each order created, order.updated for each
-- updated, in the same statement (a skipped row writes none; a dry run
-- rolls them back with the rest).
-- $1 source: excel or d365
-- $2 the imports row's id, NULL for the webhook and a dry run
-- $3 the uploader's user id, NULL for the webhook (the system)
-- $4 scope: the uploader's warehouse when a scoped manager, else NULL
-- $5 the columns an update sets, as a text array ("{area,amount}")
WITH up AS (INSERT INTO orders AS o (order_number, source, warehouse_id, customer_name,
  customer_phone, delivery_address, area, block, street, avenue, building, floor,
  apartment, paci_number, delivery_latitude, delivery_longitude, customer_info, amount,
  payment_method, notes, estimated_delivery_time, import_id, tracking_token,
  coordinates_source)
 SELECT order_number, $1, warehouse_id, customer_name, customer_phone, delivery_address,
  area, block, street, avenue, building, floor, apartment, paci_number,
  coalesce(r.delivery_latitude, lp.lat), coalesce(r.delivery_longitude, lp.lng),
  customer_info, amount, payment_method, notes,
  order_eta(eta),
  $2::bigint, tracking_token,
  CASE WHEN r.delivery_latitude IS NOT NULL THEN 'order' WHEN lp.lat IS NOT NULL THEN 'learned' END
  FROM import_rows r
  -- learned_point() only for the rows whose phone has a delivery on record
  -- (a hash semi-join first): per row it costs ~16 µs and address_key()'s
  -- regular expressions ~9 µs, 0.5 s of a 20,000-row file of new customers
  LEFT JOIN (SELECT r2.order_number AS num, l.lat, l.lng
     FROM import_rows r2,
          LATERAL learned_point(r2.customer_phone,
            address_key(r2.area, r2.block, r2.street, r2.avenue, r2.building)) l
    WHERE r2.delivery_latitude IS NULL
      AND r2.customer_phone IN (SELECT phone FROM customer_places)) lp
   ON lp.num = r.order_number
  ORDER BY order_number
 ON CONFLICT (order_number) DO UPDATE SET
  warehouse_id = CASE WHEN 'warehouse_id' = ANY($5::text[]) THEN excluded.warehouse_id ELSE o.warehouse_id END,
  customer_name = CASE WHEN 'customer_name' = ANY($5::text[]) THEN excluded.customer_name ELSE o.customer_name END,
  customer_phone = CASE WHEN 'customer_phone' = ANY($5::text[]) THEN excluded.customer_phone ELSE o.customer_phone END,
  delivery_address = CASE WHEN 'delivery_address' = ANY($5::text[]) THEN excluded.delivery_address ELSE o.delivery_address END,
  area = CASE WHEN 'area' = ANY($5::text[]) THEN excluded.area ELSE o.area END,
  block = CASE WHEN 'block' = ANY($5::text[]) THEN excluded.block ELSE o.block END,
  street = CASE WHEN 'street' = ANY($5::text[]) THEN excluded.street ELSE o.street END,
  avenue = CASE WHEN 'avenue' = ANY($5::text[]) THEN excluded.avenue ELSE o.avenue END,
  building = CASE WHEN 'building' = ANY($5::text[]) THEN excluded.building ELSE o.building END,
  floor = CASE WHEN 'floor' = ANY($5::text[]) THEN excluded.floor ELSE o.floor END,
  apartment = CASE WHEN 'apartment' = ANY($5::text[]) THEN excluded.apartment ELSE o.apartment END,
  paci_number = CASE WHEN 'paci_number' = ANY($5::text[]) THEN excluded.paci_number ELSE o.paci_number END,
  delivery_latitude = CASE WHEN 'delivery_latitude' = ANY($5::text[]) THEN excluded.delivery_latitude ELSE o.delivery_latitude END,
  delivery_longitude = CASE WHEN 'delivery_longitude' = ANY($5::text[]) THEN excluded.delivery_longitude ELSE o.delivery_longitude END,
  coordinates_source = CASE WHEN 'delivery_latitude' = ANY($5::text[]) THEN excluded.coordinates_source ELSE o.coordinates_source END,
  customer_info = o.customer_info || excluded.customer_info,
  amount = CASE WHEN 'amount' = ANY($5::text[]) THEN excluded.amount ELSE o.amount END,
  payment_method = CASE WHEN 'payment_method' = ANY($5::text[]) THEN excluded.payment_method ELSE o.payment_method END,
  notes = CASE WHEN 'notes' = ANY($5::text[]) THEN excluded.notes ELSE o.notes END,
  estimated_delivery_time = CASE WHEN 'estimated_delivery_time' = ANY($5::text[]) THEN excluded.estimated_delivery_time ELSE o.estimated_delivery_time END,
  import_id = coalesce(excluded.import_id, o.import_id), version = o.version + 1
 WHERE o.status = ANY (order_action_from('import_update'))
  AND ($4::bigint IS NULL OR o.warehouse_id = $4::bigint)
  AND (o.warehouse_id, o.customer_name, o.customer_phone, o.delivery_address, o.area,
   o.block, o.street, o.avenue, o.building, o.floor, o.apartment, o.paci_number,
   o.delivery_latitude, o.delivery_longitude, o.customer_info, o.amount,
   o.payment_method, o.notes, o.estimated_delivery_time)
  IS DISTINCT FROM (
   CASE WHEN 'warehouse_id' = ANY($5::text[]) THEN excluded.warehouse_id ELSE o.warehouse_id END,
   CASE WHEN 'customer_name' = ANY($5::text[]) THEN excluded.customer_name ELSE o.customer_name END,
   CASE WHEN 'customer_phone' = ANY($5::text[]) THEN excluded.customer_phone ELSE o.customer_phone END,
   CASE WHEN 'delivery_address' = ANY($5::text[]) THEN excluded.delivery_address ELSE o.delivery_address END,
   CASE WHEN 'area' = ANY($5::text[]) THEN excluded.area ELSE o.area END,
   CASE WHEN 'block' = ANY($5::text[]) THEN excluded.block ELSE o.block END,
   CASE WHEN 'street' = ANY($5::text[]) THEN excluded.street ELSE o.street END,
   CASE WHEN 'avenue' = ANY($5::text[]) THEN excluded.avenue ELSE o.avenue END,
   CASE WHEN 'building' = ANY($5::text[]) THEN excluded.building ELSE o.building END,
   CASE WHEN 'floor' = ANY($5::text[]) THEN excluded.floor ELSE o.floor END,
   CASE WHEN 'apartment' = ANY($5::text[]) THEN excluded.apartment ELSE o.apartment END,
   CASE WHEN 'paci_number' = ANY($5::text[]) THEN excluded.paci_number ELSE o.paci_number END,
   CASE WHEN 'delivery_latitude' = ANY($5::text[]) THEN excluded.delivery_latitude ELSE o.delivery_latitude END,
   CASE WHEN 'delivery_longitude' = ANY($5::text[]) THEN excluded.delivery_longitude ELSE o.delivery_longitude END,
   o.customer_info || excluded.customer_info,
   CASE WHEN 'amount' = ANY($5::text[]) THEN excluded.amount ELSE o.amount END,
   CASE WHEN 'payment_method' = ANY($5::text[]) THEN excluded.payment_method ELSE o.payment_method END,
   CASE WHEN 'notes' = ANY($5::text[]) THEN excluded.notes ELSE o.notes END,
   CASE WHEN 'estimated_delivery_time' = ANY($5::text[]) THEN excluded.estimated_delivery_time ELSE o.estimated_delivery_time END)
 RETURNING o.id, (xmax = 0) AS created, o.warehouse_id, order_body(o) AS body),
 h AS (INSERT INTO order_status_history (order_id, from_status, to_status, changed_by, reason)
  SELECT id, NULL, 'pending', $3::bigint, 'imported' FROM up WHERE created),
 ev AS (INSERT INTO events (type, order_id, warehouse_id, data)
  SELECT CASE WHEN created THEN 'order.created' ELSE 'order.updated' END, id, warehouse_id,
   json_build_object('order', body) FROM up)
SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up;

-- name: import_find_duplicate
-- An earlier import of the same bytes: its figures as the answer, or NULL
-- when the uploader may not see it (a 409 naming nothing of it).
-- $1 the file's SHA-256 (hex)
-- $2 scope: the uploader's warehouse when a scoped manager, else NULL
SELECT CASE WHEN import_visible(v.warehouse_id, v.uploaded_by, $2)
        THEN json_build_object(
         'import_id', v.id, 'file_name', v.file_name,
         'file_sha256', v.file_sha256, 'rows_total', v.rows_total,
         'created', v.created, 'updated', v.updated, 'skipped', v.skipped,
         'failed', v.failed, 'errors', v.errors, 'dry_run', false,
         'duplicate_of', v.id)::text END
  FROM imports v
 WHERE v.file_sha256 = $1;

-- name: import_insert
-- The imports row, first thing in the import's transaction (its unique
-- file_sha256 decides between two uploads of the same file).
-- $1 file name, or NULL
-- $2 the file's SHA-256 (hex)
-- $3 the uploader's user id
-- $4 the default warehouse (?warehouse_id=, or a scoped manager's), or NULL
INSERT INTO imports (file_name, file_sha256, uploaded_by, warehouse_id)
VALUES ($1, $2, $3, $4) RETURNING id;

-- name: import_finish
-- The imports row's figures, the uploader's notification and the
-- import.completed event (data {"import": the report}), in the import's
-- transaction (a dry run never gets here: it rolls back).
-- $1 the imports row's id
-- $2 rows_total
-- $3 created
-- $4 updated
-- $5 skipped
-- $6 failed
-- $7 the row errors, a JSON array
-- $8 the uploader's user id
-- $9 file name, or NULL
-- $10 the import's report, the body POST /imports answers (JSON)
WITH u AS (UPDATE imports SET rows_total = $2, created = $3, updated = $4,
            skipped = $5, failed = $6, errors = $7::jsonb WHERE id = $1
            RETURNING id, warehouse_id),
 ev AS (INSERT INTO events (type, warehouse_id, data)
  SELECT 'import.completed', warehouse_id, json_build_object('import', $10::json) FROM u)
INSERT INTO notifications (user_id, type, title, body, data)
SELECT $8::bigint, 'import_finished', 'Import finished: '
  || coalesce($9, 'file'), $3 || ' created, ' || $4 || ' updated, '
  || $5 || ' skipped, ' || $6 || ' failed',
  jsonb_build_object('import_id', id) FROM u;

-- name: import_orders_by_number
-- The stored orders of some order numbers, with their warehouses (the
-- deferred rows: existing orders are checked as updates).
-- $1 order numbers, a text array
SELECT order_number, warehouse_id FROM orders
 WHERE order_number = ANY($1::text[]);

-- name: import_order_warehouse
-- The webhook's order.updated: does the order exist, and where.
-- $1 order number
SELECT warehouse_id FROM orders WHERE order_number = $1;

-- name: import_order_status
-- Why the webhook's upsert left an order alone.
-- $1 order number
SELECT status FROM orders WHERE order_number = $1;
