-- Warehouses (api/warehouses.c). The column list of PATCH varies with the
-- body and is built in C (struct sqlb).

-- name: warehouse_list
-- $1 is_active filter, NULL: all
SELECT coalesce(json_agg(body ORDER BY code), '[]'::json)
  FROM api_warehouses WHERE ($1::bool IS NULL OR is_active = $1);

-- name: warehouse_get
-- $1 warehouse id
SELECT body FROM api_warehouses WHERE id = $1;

-- name: warehouse_create
-- No row when the code is taken (case-insensitive).
-- $1 code
-- $2 name
-- $3 address
-- $4 latitude
-- $5 longitude
-- $6 is_active
INSERT INTO warehouses (code, name, address, latitude, longitude, is_active)
SELECT $1, $2, $3, $4, $5, $6
 WHERE NOT EXISTS (SELECT 1 FROM warehouses WHERE lower(code) = lower($1))
RETURNING id;
