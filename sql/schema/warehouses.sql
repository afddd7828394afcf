-- Warehouses: the public JSON and the updated_at trigger.
-- Repeatable file: see common.sql.

CREATE OR REPLACE TRIGGER warehouses_set_updated_at BEFORE UPDATE ON warehouses
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- w.* is expanded when the view is created, so the view is dropped and
-- created rather than replaced: a column added to warehouses by a numbered
-- migration then shows up here the next time this file is applied. No
-- CASCADE: if something ever depends on the view, this fails loudly.
DROP VIEW IF EXISTS api_warehouses;
CREATE VIEW api_warehouses AS
SELECT w.*,
       json_build_object(
         'id',        w.id,
         'code',      w.code,
         'name',      w.name,
         'address',   w.address,
         'latitude',  w.latitude,
         'longitude', w.longitude,
         'is_active', w.is_active
       ) AS body
FROM warehouses w;
