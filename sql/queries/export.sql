-- GET /orders/export (src/api/export.c): the fixed statements around the
-- export's cursor. The cursor itself (DECLARE export_cur ... over the
-- list's filters) is built with struct sqlb: its WHERE varies.

-- name: export_fetch
-- the next chunk of the export's rows (2,000: one chunk of the file)
FETCH 2000 FROM export_cur;

-- name: export_business_day
-- today in business_timezone(): the export file is named after it, like the
-- dates in it
SELECT to_char(now() AT TIME ZONE business_timezone(), 'YYYY-MM-DD');
