-- The database itself, below the domain: whether it exists, its Alembic revision, and the
-- snapshot that long reads (export, integrity check) run in.

-- name: database_exists^
-- Whether a database of this name exists (asked on the server's maintenance database).
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = :name) AS exists;

-- name: database_has_revision_table^
-- Whether Alembic's table exists yet (it does after the first migration).
SELECT to_regclass('alembic_version') IS NOT NULL AS exists;

-- name: database_get_revision^
-- The Alembic revision the database is at (no row before the first migration).
SELECT version_num FROM alembic_version LIMIT 1;

-- name: database_begin_read_snapshot!
-- Make the current transaction one read-only snapshot (the first statement in it).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: database_set_app_role!
-- Run as the role row-level security applies to (migration 0012); the pool does this once
-- per new connection.
SET ROLE mimir_app;

-- name: database_set_namespace!
-- Put the session into a namespace ('' for none: row-level security then shows nothing).
SELECT set_config('mimir.namespace', :namespace::text, false);

-- name: database_get_session^
-- The session's role and namespace, as row-level security sees them.
SELECT current_user::text AS role, coalesce(current_setting('mimir.namespace', true), '') AS namespace;

-- name: database_has_citus^
-- Whether the database runs Citus (the pool then puts each checkout in a transaction).
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus;
