"""The whole domain schema: artifacts, versions, spans, intents, decisions, relations,
provenance, embedding spaces and embeddings, with the rules the database enforces.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Names of constraints raised by triggers (RAISE ... USING CONSTRAINT) are part of the
# contract with mimir.db.errors, which maps them to client errors.
UPGRADE = r"""
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TYPE artifact_kind AS ENUM ('conversation', 'document', 'note');
CREATE TYPE entity_type AS ENUM (
    'artifact', 'artifact_version', 'intent', 'intent_group', 'decision', 'span', 'relation'
);
CREATE TYPE intent_status AS ENUM ('proposed', 'accepted', 'rejected');
CREATE TYPE intent_group_status AS ENUM ('active', 'deprecated', 'merged');
CREATE TYPE decision_status AS ENUM ('tentative', 'active', 'superseded');
CREATE TYPE embedding_distance AS ENUM ('cosine', 'l2', 'inner_product');

-- Artifacts -----------------------------------------------------------------------------
CREATE TABLE artifacts (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    kind artifact_kind NOT NULL,
    title text,
    source text NOT NULL DEFAULT 'api',
    external_id text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_artifacts PRIMARY KEY (id),
    CONSTRAINT ck_artifacts_source_not_blank CHECK (source ~ '\S'),
    CONSTRAINT ck_artifacts_external_id_not_blank CHECK (external_id ~ '\S'),
    CONSTRAINT ck_artifacts_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE UNIQUE INDEX uq_artifacts_source_external_id
    ON artifacts (source, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX ix_artifacts_created_at_id ON artifacts (created_at, id);
CREATE INDEX ix_artifacts_metadata ON artifacts USING gin (metadata jsonb_path_ops);

CREATE TABLE artifact_versions (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    artifact_id uuid NOT NULL,
    version_number integer NOT NULL,
    content text NOT NULL,
    content_hash text NOT NULL,
    content_length integer GENERATED ALWAYS AS (char_length(content)) STORED,
    search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content)) STORED,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_artifact_versions PRIMARY KEY (id),
    CONSTRAINT fk_artifact_versions_artifact_id_artifacts
        FOREIGN KEY (artifact_id) REFERENCES artifacts (id) ON DELETE RESTRICT,
    CONSTRAINT uq_artifact_versions_artifact_id_version_number UNIQUE (artifact_id, version_number),
    CONSTRAINT ck_artifact_versions_version_number_positive CHECK (version_number >= 1),
    CONSTRAINT ck_artifact_versions_content_hash_is_sha256
        CHECK (content_hash = encode(sha256(convert_to(content, 'UTF8')), 'hex')),
    CONSTRAINT ck_artifact_versions_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX ix_artifact_versions_search_vector ON artifact_versions USING gin (search_vector);

-- Versions are append-only: no UPDATE, no DELETE, no TRUNCATE.
CREATE FUNCTION mimir_reject_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'artifact versions are append-only (% rejected)', TG_OP
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'artifact_versions_append_only';
END $$;
CREATE TRIGGER trg_artifact_versions_append_only
    BEFORE UPDATE OR DELETE ON artifact_versions
    FOR EACH ROW EXECUTE FUNCTION mimir_reject_version_change();
CREATE TRIGGER trg_artifact_versions_no_truncate
    BEFORE TRUNCATE ON artifact_versions
    FOR EACH STATEMENT EXECUTE FUNCTION mimir_reject_version_change();

-- Version numbers are 1, 2, 3, ... per artifact: a new one must be the latest + 1. The
-- unique constraint settles two concurrent writers that both read the same latest.
CREATE FUNCTION mimir_check_version_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT coalesce(max(version_number), 0) + 1 INTO expected
      FROM artifact_versions WHERE artifact_id = NEW.artifact_id;
    IF NEW.version_number <> expected THEN
        RAISE EXCEPTION 'version % of artifact % would leave a gap; the next version is %',
            NEW.version_number, NEW.artifact_id, expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'artifact_versions_gap_free';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_artifact_versions_gap_free
    BEFORE INSERT ON artifact_versions
    FOR EACH ROW EXECUTE FUNCTION mimir_check_version_sequence();

-- Spans ---------------------------------------------------------------------------------
CREATE TABLE spans (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    version_id uuid NOT NULL,
    start_offset integer NOT NULL,
    end_offset integer NOT NULL,
    span_type text NOT NULL DEFAULT 'generic',
    label text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_spans PRIMARY KEY (id),
    CONSTRAINT fk_spans_version_id_artifact_versions
        FOREIGN KEY (version_id) REFERENCES artifact_versions (id) ON DELETE RESTRICT,
    CONSTRAINT ck_spans_offsets_ordered CHECK (start_offset >= 0 AND start_offset < end_offset),
    CONSTRAINT ck_spans_span_type_format CHECK (span_type ~ '^[a-z][a-z0-9_]{0,63}$'),
    CONSTRAINT ck_spans_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX ix_spans_version_id_start_offset ON spans (version_id, start_offset);

-- A span must end inside its version's content (offsets in code points).
CREATE FUNCTION mimir_check_span_within_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    version_length integer;
BEGIN
    SELECT content_length INTO version_length FROM artifact_versions WHERE id = NEW.version_id;
    IF version_length IS NOT NULL AND NEW.end_offset > version_length THEN
        RAISE EXCEPTION 'span [%, %) lies outside its version: offsets must be within [0, %]',
            NEW.start_offset, NEW.end_offset, version_length
            USING ERRCODE = 'check_violation', CONSTRAINT = 'spans_within_version';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_spans_within_version
    BEFORE INSERT OR UPDATE OF version_id, start_offset, end_offset ON spans
    FOR EACH ROW EXECUTE FUNCTION mimir_check_span_within_version();

-- Intents and groups --------------------------------------------------------------------
CREATE TABLE intent_groups (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    description text,
    status intent_group_status NOT NULL DEFAULT 'active',
    merged_into_id uuid,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_intent_groups PRIMARY KEY (id),
    CONSTRAINT fk_intent_groups_merged_into_id_intent_groups
        FOREIGN KEY (merged_into_id) REFERENCES intent_groups (id) ON DELETE RESTRICT,
    CONSTRAINT ck_intent_groups_no_self_merge CHECK (merged_into_id <> id),
    CONSTRAINT ck_intent_groups_merged_has_target
        CHECK ((status = 'merged') = (merged_into_id IS NOT NULL)),
    CONSTRAINT ck_intent_groups_name_not_blank CHECK (name ~ '\S'),
    CONSTRAINT ck_intent_groups_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX ix_intent_groups_merged_into_id ON intent_groups (merged_into_id);
CREATE INDEX ix_intent_groups_created_at_id ON intent_groups (created_at, id);

-- A group can only be merged into a group that is not itself merged, a merged group never
-- changes again, and a group is never created merged: together these make merge cycles
-- impossible. The target row is locked (FOR SHARE), so two opposite merges running at
-- once serialize, and the second sees the first's result.
CREATE FUNCTION mimir_check_group_merge() RETURNS trigger LANGUAGE plpgsql AS $$
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
        SELECT status INTO target_status FROM intent_groups WHERE id = NEW.merged_into_id FOR SHARE;
        IF target_status = 'merged' THEN
            RAISE EXCEPTION 'intent group % is merged and cannot receive a merge', NEW.merged_into_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'intent_groups_merge_target_active';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_intent_groups_merge
    BEFORE INSERT OR UPDATE ON intent_groups
    FOR EACH ROW EXECUTE FUNCTION mimir_check_group_merge();

CREATE TABLE intents (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    statement text NOT NULL,
    status intent_status NOT NULL DEFAULT 'proposed',
    group_id uuid,
    confidence double precision,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_intents PRIMARY KEY (id),
    CONSTRAINT fk_intents_group_id_intent_groups
        FOREIGN KEY (group_id) REFERENCES intent_groups (id) ON DELETE SET NULL,
    CONSTRAINT ck_intents_confidence_range CHECK (confidence >= 0 AND confidence <= 1),
    CONSTRAINT ck_intents_statement_not_blank CHECK (statement ~ '\S'),
    CONSTRAINT ck_intents_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX ix_intents_group_id ON intents (group_id);
CREATE INDEX ix_intents_created_at_id ON intents (created_at, id);
CREATE INDEX ix_intents_metadata ON intents USING gin (metadata jsonb_path_ops);

-- proposed -> accepted | rejected; accepted and rejected are final.
CREATE FUNCTION mimir_check_intent_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND OLD.status <> 'proposed' THEN
        RAISE EXCEPTION 'intent % is % and cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'intents_status_transition';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_intents_status_transition
    BEFORE UPDATE OF status ON intents
    FOR EACH ROW EXECUTE FUNCTION mimir_check_intent_transition();

-- Decisions -----------------------------------------------------------------------------
CREATE TABLE decisions (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    statement text NOT NULL,
    rationale text,
    status decision_status NOT NULL DEFAULT 'active',
    superseded_by_id uuid,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_decisions PRIMARY KEY (id),
    CONSTRAINT fk_decisions_superseded_by_id_decisions
        FOREIGN KEY (superseded_by_id) REFERENCES decisions (id) ON DELETE RESTRICT,
    CONSTRAINT uq_decisions_superseded_by_id UNIQUE (superseded_by_id),
    CONSTRAINT ck_decisions_not_self_superseded CHECK (superseded_by_id <> id),
    CONSTRAINT ck_decisions_superseded_has_successor
        CHECK ((status = 'superseded') = (superseded_by_id IS NOT NULL)),
    CONSTRAINT ck_decisions_statement_not_blank CHECK (statement ~ '\S'),
    CONSTRAINT ck_decisions_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX ix_decisions_created_at_id ON decisions (created_at, id);
CREATE INDEX ix_decisions_metadata ON decisions USING gin (metadata jsonb_path_ops);

-- A superseded decision never changes its status or successor again, and a successor
-- must itself be current (not superseded), which keeps chains linear and acyclic. The
-- successor row is locked so that two opposite supersessions serialize.
CREATE FUNCTION mimir_check_decision_supersede() RETURNS trigger LANGUAGE plpgsql AS $$
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
        SELECT status INTO successor_status FROM decisions WHERE id = NEW.superseded_by_id FOR SHARE;
        IF successor_status = 'superseded' THEN
            RAISE EXCEPTION 'decision % is itself superseded and cannot supersede another',
                NEW.superseded_by_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'decisions_successor_current';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_decisions_supersede
    BEFORE INSERT OR UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION mimir_check_decision_supersede();

-- Relations -----------------------------------------------------------------------------
CREATE TABLE relations (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    source_type entity_type NOT NULL,
    source_id uuid NOT NULL,
    relation_type text NOT NULL,
    target_type entity_type NOT NULL,
    target_id uuid NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_relations PRIMARY KEY (id),
    CONSTRAINT uq_relations_edge
        UNIQUE (source_type, source_id, relation_type, target_type, target_id),
    CONSTRAINT ck_relations_relation_type_format CHECK (relation_type ~ '^[a-z][a-z0-9_]{0,63}$'),
    CONSTRAINT ck_relations_not_self_loop
        CHECK (NOT (source_type = target_type AND source_id = target_id)),
    CONSTRAINT ck_relations_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX ix_relations_target ON relations (target_type, target_id, relation_type);
CREATE INDEX ix_relations_created_at_id ON relations (created_at, id);

-- Polymorphic references: does entity (type, id) exist? The row is locked FOR KEY SHARE,
-- so a concurrent DELETE of it waits for the referencing transaction (and then removes
-- the new reference through its own trigger), and a reference to a row being deleted
-- waits and then finds it gone. Nothing is left pointing at a deleted entity.
CREATE FUNCTION mimir_entity_exists(kind entity_type, entity_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    CASE kind
        WHEN 'artifact' THEN PERFORM 1 FROM artifacts WHERE id = entity_id FOR KEY SHARE;
        WHEN 'artifact_version' THEN
            PERFORM 1 FROM artifact_versions WHERE id = entity_id FOR KEY SHARE;
        WHEN 'intent' THEN PERFORM 1 FROM intents WHERE id = entity_id FOR KEY SHARE;
        WHEN 'intent_group' THEN PERFORM 1 FROM intent_groups WHERE id = entity_id FOR KEY SHARE;
        WHEN 'decision' THEN PERFORM 1 FROM decisions WHERE id = entity_id FOR KEY SHARE;
        WHEN 'span' THEN PERFORM 1 FROM spans WHERE id = entity_id FOR KEY SHARE;
        WHEN 'relation' THEN PERFORM 1 FROM relations WHERE id = entity_id FOR KEY SHARE;
    END CASE;
    RETURN FOUND;
END $$;

CREATE FUNCTION mimir_check_relation_ends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mimir_entity_exists(NEW.source_type, NEW.source_id) THEN
        RAISE EXCEPTION 'relation source % % does not exist', NEW.source_type, NEW.source_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'relations_source_exists';
    END IF;
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id) THEN
        RAISE EXCEPTION 'relation target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'relations_target_exists';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_relations_ends_exist
    BEFORE INSERT OR UPDATE ON relations
    FOR EACH ROW EXECUTE FUNCTION mimir_check_relation_ends();

-- Provenance ----------------------------------------------------------------------------
CREATE TABLE provenance (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    target_type entity_type NOT NULL,
    target_id uuid NOT NULL,
    model text,
    prompt_version text,
    pipeline_version text,
    parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_provenance PRIMARY KEY (id),
    CONSTRAINT ck_provenance_parameters_is_object CHECK (jsonb_typeof(parameters) = 'object')
);
CREATE INDEX ix_provenance_target ON provenance (target_type, target_id, created_at);

CREATE FUNCTION mimir_check_provenance_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id) THEN
        RAISE EXCEPTION 'provenance target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'provenance_target_exists';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_provenance_target_exists
    BEFORE INSERT OR UPDATE ON provenance
    FOR EACH ROW EXECUTE FUNCTION mimir_check_provenance_target();

CREATE TABLE provenance_evidence (
    provenance_id uuid NOT NULL,
    span_id uuid NOT NULL,
    position integer NOT NULL DEFAULT 0,
    CONSTRAINT pk_provenance_evidence PRIMARY KEY (provenance_id, span_id),
    CONSTRAINT fk_provenance_evidence_provenance_id_provenance
        FOREIGN KEY (provenance_id) REFERENCES provenance (id) ON DELETE CASCADE,
    CONSTRAINT fk_provenance_evidence_span_id_spans
        FOREIGN KEY (span_id) REFERENCES spans (id) ON DELETE RESTRICT
);
CREATE INDEX ix_provenance_evidence_span_id ON provenance_evidence (span_id);

-- Embeddings ----------------------------------------------------------------------------
CREATE TABLE embedding_spaces (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    model text NOT NULL,
    dimensions integer NOT NULL,
    distance embedding_distance NOT NULL DEFAULT 'cosine',
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_embedding_spaces PRIMARY KEY (id),
    CONSTRAINT uq_embedding_spaces_name UNIQUE (name),
    CONSTRAINT ck_embedding_spaces_dimensions_range CHECK (dimensions BETWEEN 1 AND 16000),
    CONSTRAINT ck_embedding_spaces_name_format CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    CONSTRAINT ck_embedding_spaces_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE TABLE embeddings (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    space_id uuid NOT NULL,
    target_type entity_type NOT NULL,
    target_id uuid NOT NULL,
    embedding vector NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_embeddings PRIMARY KEY (id),
    CONSTRAINT fk_embeddings_space_id_embedding_spaces
        FOREIGN KEY (space_id) REFERENCES embedding_spaces (id) ON DELETE RESTRICT,
    CONSTRAINT uq_embeddings_space_id_target_type_target_id UNIQUE (space_id, target_type, target_id)
);
CREATE INDEX ix_embeddings_target ON embeddings (target_type, target_id);

CREATE FUNCTION mimir_check_embedding() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT dimensions INTO expected FROM embedding_spaces WHERE id = NEW.space_id;
    IF expected IS NOT NULL AND vector_dims(NEW.embedding) <> expected THEN
        RAISE EXCEPTION 'embedding has % dimensions; its space expects %',
            vector_dims(NEW.embedding), expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'embeddings_dimensions_match';
    END IF;
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id) THEN
        RAISE EXCEPTION 'embedding target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'embeddings_target_exists';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_embeddings_check
    BEFORE INSERT OR UPDATE ON embeddings
    FOR EACH ROW EXECUTE FUNCTION mimir_check_embedding();

-- Deleting a relation (the only entity the API deletes) also removes what pointed at it:
-- relations to or from it, its provenance and its embeddings. Nothing is left dangling.
CREATE FUNCTION mimir_forget_relation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM relations
     WHERE (source_type = 'relation' AND source_id = OLD.id)
        OR (target_type = 'relation' AND target_id = OLD.id);
    DELETE FROM provenance WHERE target_type = 'relation' AND target_id = OLD.id;
    DELETE FROM embeddings WHERE target_type = 'relation' AND target_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER trg_relations_forget
    AFTER DELETE ON relations
    FOR EACH ROW EXECUTE FUNCTION mimir_forget_relation();

-- An embedding space's dimensions and distance are fixed once created: its vectors and
-- its index depend on them.
CREATE FUNCTION mimir_check_space_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.dimensions, NEW.distance) IS DISTINCT FROM (OLD.dimensions, OLD.distance) THEN
        RAISE EXCEPTION 'an embedding space''s dimensions and distance cannot change'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'embedding_spaces_fixed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_embedding_spaces_fixed
    BEFORE UPDATE ON embedding_spaces
    FOR EACH ROW EXECUTE FUNCTION mimir_check_space_fixed();
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS embeddings, embedding_spaces, provenance_evidence, provenance, relations,
    decisions, intents, intent_groups, spans, artifact_versions, artifacts;
DROP FUNCTION IF EXISTS mimir_check_space_fixed(), mimir_forget_relation(),
    mimir_check_decision_supersede(), mimir_check_embedding(), mimir_check_provenance_target(),
    mimir_check_relation_ends(), mimir_entity_exists(entity_type, uuid),
    mimir_check_intent_transition(), mimir_check_group_merge(),
    mimir_check_span_within_version(), mimir_check_version_sequence(),
    mimir_reject_version_change();
DROP TYPE IF EXISTS embedding_distance, decision_status, intent_group_status, intent_status,
    entity_type, artifact_kind;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # The vector extension stays: other schemas on the server may use it.
    op.execute(DOWNGRADE)
