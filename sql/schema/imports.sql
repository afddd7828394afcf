-- Imports: the public JSON, so their list goes through the one paged-list
-- query. Repeatable file: see common.sql.

-- Dropped and created, not replaced: i.* (see warehouses.sql).
DROP VIEW IF EXISTS api_imports;
CREATE VIEW api_imports AS
SELECT i.*,
       json_build_object(
         'id',           i.id,
         'import_id',    i.id,
         'file_name',    i.file_name,
         'file_sha256',  i.file_sha256,
         'rows_total',   i.rows_total,
         'created',      i.created,
         'updated',      i.updated,
         'skipped',      i.skipped,
         'failed',       i.failed,
         'errors',       i.errors,
         'warehouse_id', i.warehouse_id,
         'uploaded_by',  i.uploaded_by,
         'created_at',   api_ts(i.created_at)
       ) AS body
FROM imports i;
