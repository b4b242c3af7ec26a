-- name: health_get_server_facts^
-- Server and pgvector versions, and whether the migration table exists yet.
SELECT current_setting('server_version') AS server_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector_version,
       to_regclass('alembic_version') IS NOT NULL AS is_migrated;

-- name: health_ping^
-- The liveness probe: the database answers a statement.
SELECT 1 AS alive;
