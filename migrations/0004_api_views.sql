-- Public JSON shapes of imports and work sessions, like the other api_*
-- views, so their lists go through the one paged-list query.
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

CREATE VIEW api_work_sessions AS
SELECT s.*,
       json_build_object(
         'id',               s.id,
         'started_at',       api_ts(s.started_at),
         'ended_at',         api_ts(s.ended_at),
         -- an open session counts up to now
         'duration_seconds', floor(extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at))::bigint
       ) AS body
FROM work_sessions s;
