-- deliveryd migrate (src/db/migrate.c): its own bookkeeping. The numbered
-- migrations are recorded in schema_migrations (applied once; an applied
-- file may never change), the repeatable files of sql/schema in
-- schema_repeatable (applied again whenever their checksum changes).

-- name: migrate_lock
-- One migrator at a time, whatever the number of hosts running it.
SELECT pg_advisory_lock(727274001);

-- name: migrate_unlock
SELECT pg_advisory_unlock(727274001);

-- name: migrate_numbered_table
CREATE TABLE IF NOT EXISTS schema_migrations (
  name text PRIMARY KEY, checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now());

-- name: migrate_numbered_checksum
-- $1 the migration file's name
SELECT checksum FROM schema_migrations WHERE name = $1;

-- name: migrate_numbered_record
-- $1 the migration file's name
-- $2 its SHA-256 (hex)
INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2);

-- name: migrate_repeatable_table
CREATE TABLE IF NOT EXISTS schema_repeatable (
  name text PRIMARY KEY, checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now());

-- name: migrate_repeatable_checksum
-- $1 the schema file's name
SELECT checksum FROM schema_repeatable WHERE name = $1;

-- name: migrate_repeatable_record
-- $1 the schema file's name
-- $2 its SHA-256 (hex)
INSERT INTO schema_repeatable (name, checksum) VALUES ($1, $2)
  ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now();
