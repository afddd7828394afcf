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

-- Who may see an import: a manager scoped to warehouse p_scope sees the
-- imports into that warehouse or by its managers; NULL (unscoped) sees
-- every import. The one definition: GET /imports, GET /imports/{id}, the
-- import's duplicate answer.
CREATE OR REPLACE FUNCTION import_visible(v_warehouse_id bigint, v_uploaded_by bigint,
                                          p_scope bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT p_scope IS NULL OR v_warehouse_id = p_scope
      OR EXISTS (SELECT 1 FROM users u WHERE u.id = v_uploaded_by AND u.warehouse_id = p_scope)
$$;
