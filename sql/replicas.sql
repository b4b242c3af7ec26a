-- Read replicas (mimir.db.replicas): WAL positions as bigints, so Python compares numbers.

-- name: replicas_primary_position^
-- The primary's WAL write position: every commit acknowledged before this ran ends at or
-- before it (with synchronous_commit on, a commit's record is flushed before the ack).
SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS lsn;

-- name: replicas_replica_position^
-- A replica's replay position and the commit time of the last transaction it replayed;
-- in_recovery is false on a server that is not (or no longer) a standby.
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn() - '0/0'::pg_lsn AS lsn,
       pg_last_xact_replay_timestamp() AS replayed_commit_at;
