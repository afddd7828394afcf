-- Settings (api/settings.c, service/settings.c). Each key's type and range
-- is checked in C (service/settings.c) before setting_put.

-- name: settings_list
SELECT coalesce(json_object_agg(key, value ORDER BY key), '{}'::json) FROM settings;

-- name: settings_load
-- The cache of service/settings.c (NULL when the table is empty).
SELECT json_object_agg(key, value)::text FROM settings;

-- name: setting_put
-- No row: business_timezone given a zone PostgreSQL does not know (IANA).
-- $1 key
-- $2 value (JSON text)
-- $3 the admin's user id
UPDATE settings SET value = $2::jsonb, updated_at = now(), updated_by = $3
 WHERE key = $1 AND ($1 <> 'business_timezone'
       OR EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $2::jsonb #>> '{}'))
RETURNING json_build_object('key', key, 'value', value);
