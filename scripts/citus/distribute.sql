-- Distribute a database that Mímir's migrations (0001-0012) built on a Citus coordinator:
-- every memory table by `namespace`, all colocated (a namespace's rows of every table live
-- on one worker), the global tables as reference tables (a copy on every node), the job
-- queue and alembic_version local to the coordinator.
--
--   psql -v ON_ERROR_STOP=1 -d <coordinator db> -f scripts/citus/distribute.sql
--
-- Steps 1-3 are what a migration (0013-citus) would have to change in the schema; each is
-- also valid on plain PostgreSQL (see docs/scaling.md for the cost of each there).
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

-- 2. Every primary key and unique constraint of a distributed table must contain the
--    distribution column. ids are random uuids, so (id, namespace) is as unique as id.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['artifacts', 'artifact_versions', 'spans', 'intent_groups',
        'intents', 'decisions', 'relations', 'provenance', 'embeddings', 'imports',
        'erasures'] LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I CASCADE', t, 'pk_' || t);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (id, namespace)',
                       t, 'pk_' || t);
    END LOOP;
END $$;
ALTER TABLE provenance_evidence DROP CONSTRAINT pk_provenance_evidence,
    ADD CONSTRAINT pk_provenance_evidence PRIMARY KEY (provenance_id, span_id, namespace);
ALTER TABLE artifact_versions DROP CONSTRAINT uq_artifact_versions_artifact_id_version_number,
    ADD CONSTRAINT uq_artifact_versions_artifact_id_version_number
        UNIQUE (artifact_id, version_number, namespace);
ALTER TABLE decisions DROP CONSTRAINT uq_decisions_superseded_by_id,
    ADD CONSTRAINT uq_decisions_superseded_by_id UNIQUE (superseded_by_id, namespace);
ALTER TABLE relations DROP CONSTRAINT uq_relations_edge,
    ADD CONSTRAINT uq_relations_edge
        UNIQUE (source_type, source_id, relation_type, target_type, target_id, namespace);
ALTER TABLE embeddings DROP CONSTRAINT uq_embeddings_space_id_target_type_target_id,
    ADD CONSTRAINT uq_embeddings_space_id_target_type_target_id
        UNIQUE (space_id, target_type, target_id, namespace);

-- 3. Foreign keys between distributed tables must include the distribution column: the two
--    keys to erasures become (erasure_id, namespace) -> erasures (id, namespace) (the
--    primary key of step 2). The other links are composite since migration 0012.
ALTER TABLE artifact_versions DROP CONSTRAINT IF EXISTS fk_artifact_versions_erasure_id_erasures,
    ADD CONSTRAINT fk_artifact_versions_erasure_id_erasures
        FOREIGN KEY (erasure_id, namespace) REFERENCES erasures (id, namespace)
        ON DELETE RESTRICT;
ALTER TABLE provenance_evidence
    DROP CONSTRAINT IF EXISTS fk_provenance_evidence_erasure_id_erasures,
    ADD CONSTRAINT fk_provenance_evidence_erasure_id_erasures
        FOREIGN KEY (erasure_id, namespace) REFERENCES erasures (id, namespace)
        ON DELETE RESTRICT;
-- Citus refuses ON DELETE SET NULL / SET DEFAULT on a key that includes the distribution
-- column, even SET NULL (intent_group_id). No code path deletes an intent group (groups
-- are merged or deprecated, erasure leaves them), so RESTRICT changes nothing Mímir does;
-- a hand-made DELETE of a group with intents is refused instead of unlinking them.
ALTER TABLE intents DROP CONSTRAINT fk_intents_intent_group_id_intent_groups,
    ADD CONSTRAINT fk_intents_intent_group_id_intent_groups
        FOREIGN KEY (intent_group_id, namespace) REFERENCES intent_groups (id, namespace)
        ON DELETE RESTRICT;
COMMIT;

-- 4. Distribution (Citus only). Keys to namespaces (a local table referenced by local
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
