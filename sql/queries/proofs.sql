-- Proof of delivery (src/api/proofs.c): POST/GET /orders/{id}/proof and
-- GET /files/{id}. Which statuses take a proof is order_action_from('proof')
-- (sql/schema/order_rules.sql); who sees an order, order_visible().

-- name: proof_order_status
-- Columns: status, whether it takes a proof, whether the order is archived
-- (an archived order takes no new proof).
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
SELECT o.status, o.status = ANY (order_action_from('proof')), o.is_archived
  FROM orders o
 WHERE o.id = $1 AND order_visible(o.warehouse_id, o.driver_id, $2, $3);

-- The file rows and the proof in one statement; no row when the order
-- left the statuses that take a proof (or was archived) meanwhile. A new
-- proof never replaces an earlier one: each upload is its own row.
-- name: proof_save
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
-- $4 photo: SHA-256 (hex), or NULL when there is no photo
-- $5 photo: content type
-- $6 photo: size in bytes
-- $7 photo: storage path
-- $8 signature: SHA-256 (hex), or NULL when there is no signature
-- $9 signature: content type
-- $10 signature: size in bytes
-- $11 signature: storage path
-- $12 recipient_name
-- $13 notes
-- $14 latitude
-- $15 longitude
-- $16 the capturing user's id
WITH o AS (SELECT o.id FROM orders o WHERE o.id = $1
  AND order_visible(o.warehouse_id, o.driver_id, $2, $3)
  AND o.status = ANY (order_action_from('proof')) AND NOT o.is_archived FOR NO KEY UPDATE),
 ph AS (INSERT INTO files (sha256, content_type, size_bytes, storage_path, created_by)
  SELECT $4, $5, $6::bigint, $7, $16::bigint FROM o WHERE $4::text IS NOT NULL RETURNING id),
 sg AS (INSERT INTO files (sha256, content_type, size_bytes, storage_path, created_by)
  SELECT $8, $9, $10::bigint, $11, $16::bigint FROM o WHERE $8::text IS NOT NULL RETURNING id),
 pr AS (INSERT INTO proofs AS x (order_id, photo_file_id, signature_file_id,
  recipient_name, notes, latitude, longitude, captured_by)
  SELECT o.id, (SELECT id FROM ph), (SELECT id FROM sg), $12, $13, $14::float8,
   $15::float8, $16::bigint FROM o RETURNING x.*)
SELECT json_build_object('id', pr.id, 'order_id', pr.order_id,
  'photo_url', '/api/v1/files/' || pr.photo_file_id,
  'signature_url', '/api/v1/files/' || pr.signature_file_id,
  'recipient_name', pr.recipient_name, 'notes', pr.notes,
  'latitude', pr.latitude, 'longitude', pr.longitude,
  'captured_at', api_ts(pr.captured_at))
  FROM pr;

-- The latest proof, with the earlier ones under "previous" (the same
-- shape, newest first); no row without a proof.
-- name: proof_get
-- $1 order id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
WITH all_p AS (SELECT pr.id, json_build_object('id', pr.id, 'order_id', pr.order_id,
  'photo_url', '/api/v1/files/' || pr.photo_file_id,
  'signature_url', '/api/v1/files/' || pr.signature_file_id,
  'recipient_name', pr.recipient_name, 'notes', pr.notes,
  'latitude', pr.latitude, 'longitude', pr.longitude,
  'captured_at', api_ts(pr.captured_at)) AS body,
  row_number() OVER (ORDER BY pr.captured_at DESC, pr.id DESC) AS n
  FROM proofs pr
  JOIN orders o ON o.id = pr.order_id
 WHERE pr.order_id = $1 AND order_visible(o.warehouse_id, o.driver_id, $2, $3))
SELECT (left(l.body::text, -1) || ', "previous" : '
  || coalesce((SELECT json_agg(e.body ORDER BY e.n) FROM all_p e WHERE e.n > 1), '[]'::json)
  || '}')::json
  FROM all_p l WHERE l.n = 1;

-- name: proof_file
-- $1 file id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 own: the caller's driver id when a driver, else NULL
SELECT f.storage_path, f.content_type FROM files f
  JOIN proofs pr ON pr.photo_file_id = f.id OR pr.signature_file_id = f.id
  JOIN orders o ON o.id = pr.order_id
 WHERE f.id = $1 AND order_visible(o.warehouse_id, o.driver_id, $2, $3)
 LIMIT 1;
