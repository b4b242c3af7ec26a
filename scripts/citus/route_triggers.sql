-- Trigger functions that Citus can run on a shard: every query a trigger makes on another
-- distributed table names the row's namespace, so Citus routes it to the colocated shard
-- on the same worker. Without it a trigger's lookup by id alone is a query on every shard,
-- refused inside a trigger on a shard ("cannot execute a distributed query from a query on
-- a shard"). Each condition is redundant on plain PostgreSQL (row-level security already
-- keeps the lookup inside the session's namespace, which is NEW.namespace), so these are
-- also correct there. Run after distribute.sql (or before: they do not depend on Citus).
\set ON_ERROR_STOP 1
BEGIN;

CREATE OR REPLACE FUNCTION mimir_entity_exists(kind entity_type, entity_id uuid, ns text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    CASE kind
        WHEN 'artifact' THEN
            PERFORM 1 FROM artifacts WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'artifact_version' THEN
            PERFORM 1 FROM artifact_versions WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'intent' THEN
            PERFORM 1 FROM intents WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'intent_group' THEN
            PERFORM 1 FROM intent_groups WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'decision' THEN
            PERFORM 1 FROM decisions WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'span' THEN
            PERFORM 1 FROM spans WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'relation' THEN
            PERFORM 1 FROM relations WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
    END CASE;
    RETURN FOUND;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_relation_ends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mimir_entity_exists(NEW.source_type, NEW.source_id, NEW.namespace) THEN
        RAISE EXCEPTION 'relation source % % does not exist', NEW.source_type, NEW.source_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'relations_source_exists';
    END IF;
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id, NEW.namespace) THEN
        RAISE EXCEPTION 'relation target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'relations_target_exists';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_provenance_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id, NEW.namespace) THEN
        RAISE EXCEPTION 'provenance target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'provenance_target_exists';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_embedding() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT dimensions INTO expected FROM embedding_spaces WHERE id = NEW.space_id;
    IF expected IS NOT NULL AND vector_dims(NEW.embedding) <> expected THEN
        RAISE EXCEPTION 'embedding has % dimensions; its space expects %',
            vector_dims(NEW.embedding), expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'embeddings_dimensions_match';
    END IF;
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id, NEW.namespace) THEN
        RAISE EXCEPTION 'embedding target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'embeddings_target_exists';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_forget_relation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM relations
     WHERE namespace = OLD.namespace
       AND ((source_type = 'relation' AND source_id = OLD.id)
            OR (target_type = 'relation' AND target_id = OLD.id));
    DELETE FROM provenance
     WHERE namespace = OLD.namespace AND target_type = 'relation' AND target_id = OLD.id;
    DELETE FROM embeddings
     WHERE namespace = OLD.namespace AND target_type = 'relation' AND target_id = OLD.id;
    RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_version_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT coalesce(max(version_number), 0) + 1 INTO expected
      FROM artifact_versions WHERE artifact_id = NEW.artifact_id AND namespace = NEW.namespace;
    IF NEW.version_number <> expected THEN
        RAISE EXCEPTION 'version % of artifact % would leave a gap; the next version is %',
            NEW.version_number, NEW.artifact_id, expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'artifact_versions_gap_free';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_span_within_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    version_length integer;
BEGIN
    SELECT coalesce(erased_content_length, content_length) INTO version_length
      FROM artifact_versions WHERE id = NEW.artifact_version_id AND namespace = NEW.namespace;
    IF version_length IS NOT NULL AND NEW.end_offset > version_length THEN
        RAISE EXCEPTION 'span [%, %) lies outside its version: offsets must be within [0, %]',
            NEW.start_offset, NEW.end_offset, version_length
            USING ERRCODE = 'check_violation', CONSTRAINT = 'spans_within_version';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_decision_supersede() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    successor_status decision_status;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'superseded'
       AND (NEW.status, NEW.superseded_by_id) IS DISTINCT FROM (OLD.status, OLD.superseded_by_id) THEN
        RAISE EXCEPTION 'decision % is already superseded by %', OLD.id, OLD.superseded_by_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'decisions_superseded_is_final';
    END IF;
    IF NEW.superseded_by_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.superseded_by_id IS DISTINCT FROM OLD.superseded_by_id) THEN
        SELECT status INTO successor_status FROM decisions
         WHERE id = NEW.superseded_by_id AND namespace = NEW.namespace FOR SHARE;
        IF successor_status = 'superseded' THEN
            RAISE EXCEPTION 'decision % is itself superseded and cannot supersede another',
                NEW.superseded_by_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'decisions_successor_current';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_group_merge() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target_status intent_group_status;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'merged' THEN
        RAISE EXCEPTION 'intent group % is already merged', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'intent_groups_merged_is_final';
    END IF;
    IF TG_OP = 'INSERT' AND NEW.merged_into_id IS NOT NULL THEN
        RAISE EXCEPTION 'a new intent group cannot be created merged'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'intent_groups_merged_is_final';
    END IF;
    IF NEW.merged_into_id IS NOT NULL THEN
        SELECT status INTO target_status FROM intent_groups
         WHERE id = NEW.merged_into_id AND namespace = NEW.namespace FOR SHARE;
        IF target_status = 'merged' THEN
            RAISE EXCEPTION 'intent group % is merged and cannot receive a merge', NEW.merged_into_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'intent_groups_merge_target_active';
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- Search postings: the version's namespace travels as an argument.
CREATE OR REPLACE FUNCTION mimir_index_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mimir_drop_postings(v.id, NEW.namespace)
       FROM artifact_versions v
      WHERE v.artifact_id = NEW.artifact_id AND v.namespace = NEW.namespace
        AND v.version_number = NEW.version_number - 1;
    PERFORM mimir_write_postings(NEW.id, NEW.namespace);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION mimir_drop_postings(target uuid, space text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    removed_docs integer;
    removed_len bigint;
BEGIN
    WITH gone AS (DELETE FROM search_postings WHERE version_id = target AND namespace = space
                  RETURNING tf)
    SELECT count(*), coalesce(sum(tf), 0) INTO removed_docs, removed_len FROM gone;
    IF removed_docs > 0 THEN
        INSERT INTO search_stats AS s (namespace, shard, docs, total_len)
        VALUES (space, (txid_current() % 16)::smallint, -1, -removed_len)
        ON CONFLICT (namespace, shard)
        DO UPDATE SET docs = s.docs - 1, total_len = s.total_len - removed_len;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mimir_previous_turn(message_id uuid, space text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN char_length(pv.content) <= 200 THEN pv.content
                ELSE regexp_replace(left(pv.content, 201), '\s+\S*$', '') END
      FROM artifacts a
      CROSS JOIN LATERAL (
          SELECT p.id FROM artifacts p
           WHERE p.namespace = space AND p.source = a.source
             AND p.created_at < a.created_at AND p.artifact_type = 'note'
           ORDER BY p.created_at DESC, p.id DESC
           LIMIT 1) prev
      CROSS JOIN LATERAL (
          SELECT v.content FROM artifact_versions v
           WHERE v.artifact_id = prev.id AND v.namespace = space
           ORDER BY v.version_number DESC
           LIMIT 1) pv
     WHERE a.id = message_id AND a.namespace = space
       AND a.artifact_type = 'note' AND a.source <> 'api'
$fn$;

-- The previous turn is looked up by its own statement: a SQL function called per row inside
-- a query that runs on a shard would be a nested distributed query.
CREATE OR REPLACE FUNCTION mimir_write_postings(target uuid, space text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    doc tsvector;
    added_len bigint;
    message uuid;
    short boolean;
    previous text;
BEGIN
    PERFORM mimir_drop_postings(target, space);
    SELECT a.id, v.content_length <= 300 INTO message, short
      FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = space
     WHERE v.id = target AND v.namespace = space;
    IF short THEN
        previous := mimir_previous_turn(message, space);
    END IF;
    SELECT mimir_search_document(
               v.search_vector,
               concat_ws(E'\n', mimir_search_context(a.title, a.metadata, v.metadata), previous))
      INTO doc
      FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = space
     WHERE v.id = target AND v.namespace = space;
    WITH terms AS (
        SELECT t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf FROM unnest(doc) AS t
    ), total AS (SELECT coalesce(sum(tf), 0)::integer AS dl FROM terms)
    INSERT INTO search_postings (namespace, lexeme, version_id, tf, dl)
    SELECT space, terms.lexeme, target, terms.tf, total.dl FROM terms, total;
    SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0) INTO added_len
      FROM unnest(doc) AS t;
    IF added_len > 0 THEN
        INSERT INTO search_stats AS s (namespace, shard, docs, total_len)
        VALUES (space, (txid_current() % 16)::smallint, 1, added_len)
        ON CONFLICT (namespace, shard)
        DO UPDATE SET docs = s.docs + 1, total_len = s.total_len + added_len;
    END IF;
END
$$;
COMMIT;
