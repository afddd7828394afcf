-- Spreadsheet imports (src/api/imports.c). Who sees an import is
-- import_visible() (sql/schema/imports.sql).

-- name: import_get
-- replica: ok
-- $1 import id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
SELECT v.body FROM api_imports v WHERE v.id = $1
   AND import_visible(v.warehouse_id, v.uploaded_by, $2);
