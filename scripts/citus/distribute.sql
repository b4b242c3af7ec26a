-- Distribute a database that Mímir's migrations (0001-0014) built on a Citus coordinator:
-- every memory table by `namespace`, all colocated (a namespace's rows of every table live
-- on one worker), the global tables as reference tables (a copy on every node), the job
-- queue and alembic_version local to the coordinator.
--
--   psql -v ON_ERROR_STOP=1 -d <coordinator db> -f scripts/citus/distribute.sql
--
-- The schema changes Citus needs that are valid on plain PostgreSQL too (keys with namespace,
-- composite keys to erasures, RESTRICT for intents -> intent_groups, triggers naming the
-- namespace) are migration 0014's. What stays here is Citus-only: policies without a
-- subquery, reference tables, distribution, LOGIN for the app roles, and the setting that
-- passes the pool's SET LOCAL mimir.namespace on to the workers.
\set ON_ERROR_STOP 1
-- The 14 tables of memory content (migration 0012's TABLES), for the loops below.
CREATE TEMP TABLE memory_tables AS
SELECT unnest(ARRAY['artifacts', 'artifact_versions', 'spans', 'intent_groups', 'intents',
                    'decisions', 'relations', 'provenance', 'provenance_evidence',
                    'embeddings', 'search_postings', 'search_stats', 'imports',
                    'erasures']) AS name;
BEGIN;

-- 1. Row-level security: Citus refuses policies that contain a subquery ("Subqueries are not
--    supported in policies on distributed tables"). Migration 0012's policies compare with
--    (SELECT current_setting(...)) (an initplan, evaluated once per statement); here they
--    compare with the plain call (a stable function, evaluated per row).
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT name FROM memory_tables LOOP
        EXECUTE format('DROP POLICY namespace_isolation ON %I', t);
        EXECUTE format('CREATE POLICY namespace_isolation ON %I '
                       'USING (namespace = current_setting(''mimir.namespace'', true)) '
                       'WITH CHECK (namespace = current_setting(''mimir.namespace'', true))', t);
    END LOOP;
END $$;

COMMIT;

-- 2. The pool's SET LOCAL mimir.namespace (MIMIR_DB_CITUS) must reach the workers, where the
--    shards' policies are enforced: Citus passes SET LOCAL on only with this setting.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = ''local''',
                   current_database());
END $$;

-- 3. Distribution (Citus only). Keys to namespaces (a local table referenced by local
--    tables with policies) make Citus try to convert the whole foreign-key graph at once,
--    which fails on the policies: drop them, make namespaces a reference table, put them
--    back once every table is distributed.
-- Citus opens its connections to the workers as the current user, after SET ROLE as
-- mimir_app: NOLOGIN fails every query ("role mimir_app is not permitted to log in").
-- Production: LOGIN plus a password in pg_dist_authinfo (or certificates), never trust.
ALTER ROLE mimir_app LOGIN;
ALTER ROLE mimir_maintenance LOGIN;
SET citus.enable_unsafe_triggers = on;  -- Mímir's triggers (see docs/scaling.md)
SET citus.multi_shard_modify_mode = 'sequential';
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT name FROM memory_tables LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, 'fk_' || t || '_namespace_namespaces');
    END LOOP;
END $$;
SELECT create_reference_table('namespaces');
SELECT create_reference_table('embedding_spaces');
SELECT create_reference_table('api_keys');
SELECT create_reference_table('audit_log');
-- Parents before children: a foreign key may only point at a table already distributed.
SELECT create_distributed_table('artifacts', 'namespace');
SELECT create_distributed_table(t, 'namespace', colocate_with => 'artifacts')
  FROM unnest(ARRAY['erasures', 'artifact_versions', 'spans', 'intent_groups', 'intents',
                    'decisions', 'relations', 'provenance', 'provenance_evidence',
                    'embeddings', 'search_postings', 'search_stats', 'imports']) AS t;
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT name FROM memory_tables LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (namespace) '
                       'REFERENCES namespaces (name) ON DELETE RESTRICT',
                       t, 'fk_' || t || '_namespace_namespaces');
    END LOOP;
END $$;
