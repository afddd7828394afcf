-- Driver profiles (api/drivers.c, api/sessions.c). Scope: the caller's
-- warehouse when a scoped manager, else NULL. The column list of PATCH
-- varies with the body and is built in C (struct sqlb).

-- name: driver_get
-- $1 driver id
SELECT body FROM api_drivers WHERE id = $1;

-- name: driver_get_scoped
-- $1 driver id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
SELECT body FROM api_drivers WHERE id = $1 AND ($2::bigint IS NULL OR warehouse_id = $2);

-- name: driver_in_scope
-- $1 driver id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
SELECT 1 FROM drivers WHERE id = $1 AND ($2::bigint IS NULL OR warehouse_id = $2);

-- name: driver_create
-- The user and the profile in one statement: both or neither. No row when
-- the warehouse is deactivated (it takes no new drivers).
-- $1 username
-- $2 password hash
-- $3 full name
-- $4 phone
-- $5 code
-- $6 vehicle type
-- $7 warehouse id
-- $8 is_active
WITH u AS (INSERT INTO users (username, password_hash, full_name, role, phone, is_active)
           SELECT $1, $2, $3, 'driver', $4, $8
            WHERE NOT EXISTS (SELECT 1 FROM warehouses w WHERE w.id = $7 AND NOT w.is_active)
           RETURNING id)
INSERT INTO drivers (user_id, code, phone, vehicle_type, warehouse_id, is_active)
SELECT id, $5, $4, $6, $7, $8 FROM u RETURNING id;

-- name: driver_update_user
-- The driver's user row (name, login phone, active flag; migration 0015's
-- trigger copies them to the driver), before the drivers row: the
-- trigger's lock order.
-- $1 driver id
-- $2 scope: the caller's warehouse when a scoped manager, else NULL
-- $3 full name, NULL: unchanged
-- $4 whether the phone is given ('t'/'f')
-- $5 phone (when $4)
-- $6 is_active, NULL: unchanged
UPDATE users SET full_name = coalesce($3, full_name),
       phone = CASE WHEN $4 THEN $5 ELSE phone END,
       is_active = coalesce($6::bool, is_active)
 WHERE id = (SELECT user_id FROM drivers WHERE id = $1
                AND ($2::bigint IS NULL OR warehouse_id = $2))
RETURNING id;
