-- The read replica (READ_DATABASE_URL), as db/db.c checks it at most once a
-- second on its own connection to the replica.

-- name: replica_lag
-- How far the replica's replay is behind, in seconds: 0 while everything
-- received is replayed (an idle primary makes now() -
-- pg_last_xact_replay_timestamp() grow without the replica being behind),
-- 0 once it is promoted; behind and nothing replayed since it started:
-- the time since its start at most.
SELECT CASE WHEN NOT pg_is_in_recovery()
              OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            WHEN pg_last_xact_replay_timestamp() IS NULL
              THEN extract(epoch FROM now() - pg_postmaster_start_time())
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END;
