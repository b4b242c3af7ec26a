"""Erasure: the one sanctioned exception to append-only versions (issue 16), and an audit log.

- erasure_scope: what one erasure covers, `artifact` (all its versions, and its ChatGPT
  `<external id>#raw` note), `version` (one version) or `source` (every artifact of a
  source). An enum so that a `namespace` scope can be added later (ALTER TYPE ... ADD VALUE).
- erasures: one row per erasure request: scope, target (an id or a source name), reason,
  who (erased_by), when, counts of what was removed, and the intents and decisions derived
  from the erased evidence (reported, not changed).
- artifact_versions.erasure_id / erased_content_length: a tombstone. An erased version's
  content is '' (so content_hash is sha256('') and content_length 0: the original hash is
  not kept, since a hash of a short text confirms a guess of it); erased_content_length
  keeps the original length in code points, so spans keep meaningful offsets. Its metadata
  becomes {}.
- provenance_evidence.erasure_id: evidence that cites a span of erased content is marked.
- audit_log: erasures now; key and namespace changes later. Read by admin keys.

The append-only trigger lets exactly one UPDATE through: a live version becoming a
tombstone (erasure_id set, identity columns unchanged), and only while the transaction-local
setting `mimir.erasing` is 'on', which only mimir_erase() sets (set_config(..., true): it
ends with the transaction, and mimir_erase turns it off before returning). The setting is a
guard against accidents, not a security boundary: a role that can run SQL can set it.
DELETE and TRUNCATE of versions stay refused. The span check (0009's
mimir_check_span_within_version) measures a tombstone by its length before erasure, so
its spans keep their offsets through export and restore.

mimir_erase(scope, target, reason, actor) does the whole erasure in the caller's
transaction and returns a jsonb report; VACUUM FULL of the touched tables (so the text is
physically gone) cannot run in a transaction and is run by the caller afterwards.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TYPE erasure_scope AS ENUM ('artifact', 'version', 'source');

CREATE TABLE erasures (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    scope erasure_scope NOT NULL,
    target text NOT NULL,
    reason text NOT NULL,
    erased_by text NOT NULL,
    counts jsonb NOT NULL DEFAULT '{}'::jsonb,
    derived jsonb NOT NULL DEFAULT '{}'::jsonb,
    erased_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_erasures PRIMARY KEY (id),
    CONSTRAINT ck_erasures_reason_not_blank CHECK (reason ~ '\S'),
    CONSTRAINT ck_erasures_erased_by_not_blank CHECK (erased_by ~ '\S'),
    CONSTRAINT ck_erasures_counts_is_object CHECK (jsonb_typeof(counts) = 'object'),
    CONSTRAINT ck_erasures_derived_is_object CHECK (jsonb_typeof(derived) = 'object')
);
CREATE INDEX ix_erasures_erased_at_id ON erasures (erased_at, id);

ALTER TABLE artifact_versions ADD COLUMN erasure_id uuid;
ALTER TABLE artifact_versions ADD COLUMN erased_content_length integer;
ALTER TABLE artifact_versions ADD CONSTRAINT fk_artifact_versions_erasure_id_erasures
    FOREIGN KEY (erasure_id) REFERENCES erasures (id) ON DELETE RESTRICT;
ALTER TABLE artifact_versions ADD CONSTRAINT ck_artifact_versions_tombstone
    CHECK ((erasure_id IS NULL) = (erased_content_length IS NULL)
           AND (erasure_id IS NULL OR content = ''));
CREATE INDEX ix_artifact_versions_erasure_id ON artifact_versions (erasure_id);

ALTER TABLE provenance_evidence ADD COLUMN erasure_id uuid;
ALTER TABLE provenance_evidence ADD CONSTRAINT fk_provenance_evidence_erasure_id_erasures
    FOREIGN KEY (erasure_id) REFERENCES erasures (id) ON DELETE RESTRICT;

CREATE TABLE audit_log (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    action text NOT NULL,
    actor text NOT NULL,
    subject text,
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_audit_log PRIMARY KEY (id),
    CONSTRAINT ck_audit_log_action_format CHECK (action ~ '^[a-z][a-z0-9_.]{0,63}$'),
    CONSTRAINT ck_audit_log_details_is_object CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX ix_audit_log_created_at_id ON audit_log (created_at, id);

CREATE OR REPLACE FUNCTION mimir_reject_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('mimir.erasing', true) = 'on'
       AND OLD.erasure_id IS NULL AND NEW.erasure_id IS NOT NULL
       AND (NEW.id, NEW.artifact_id, NEW.version_number, NEW.created_at, NEW.created_by)
           IS NOT DISTINCT FROM (OLD.id, OLD.artifact_id, OLD.version_number, OLD.created_at,
                                 OLD.created_by) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'artifact versions are append-only (% rejected)', TG_OP
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'artifact_versions_append_only';
END $$;

CREATE FUNCTION mimir_erase(erase_scope erasure_scope, erase_target text, erase_reason text,
                            erase_actor text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    erasure uuid;
    version_ids uuid[];
    artifact_ids uuid[];
    touched_artifacts uuid[];
    span_ids uuid[];
    chunk_ids uuid[];
    successor_ids uuid[];
    derived_intents jsonb;
    derived_decisions jsonb;
    n_chars bigint;
    n_spans integer;
    n_chunks integer := 0;
    n_embeddings integer;
    n_postings integer;
    n_evidence integer;
    n_artifacts integer := 0;
    n_relations integer;
    tally jsonb;
BEGIN
    -- What is erased: the versions (not yet tombstones), and the artifacts that lose all
    -- of them (their title and metadata go too).
    IF erase_scope = 'version' THEN
        artifact_ids := '{}';
        SELECT coalesce(array_agg(v.id), '{}') INTO version_ids
          FROM artifact_versions v WHERE v.id = erase_target::uuid AND v.erasure_id IS NULL;
    ELSE
        IF erase_scope = 'artifact' THEN
            -- The artifact and the ChatGPT importer's raw copy of it: the note of the same
            -- source whose external_id is the artifact's followed by '#raw'.
            SELECT coalesce(array_agg(a.id), '{}') INTO artifact_ids
              FROM artifacts a
             WHERE a.id = erase_target::uuid
                OR EXISTS (SELECT 1 FROM artifacts o
                            WHERE o.id = erase_target::uuid AND o.external_id IS NOT NULL
                              AND a.source = o.source AND a.external_id = o.external_id || '#raw');
        ELSE
            SELECT coalesce(array_agg(a.id), '{}') INTO artifact_ids
              FROM artifacts a WHERE a.source = erase_target;
        END IF;
        SELECT coalesce(array_agg(v.id), '{}') INTO version_ids
          FROM artifact_versions v
         WHERE v.artifact_id = ANY(artifact_ids) AND v.erasure_id IS NULL;
    END IF;
    -- Wait for any chunking of these versions in progress (the embedding jobs take the same
    -- lock, sql/embeddings.sql): chunks made from the text before the erasure commit first
    -- and are erased with it, and a job that starts later reads the tombstone.
    PERFORM pg_advisory_xact_lock(hashtextextended(v::text, 7))
       FROM unnest(version_ids) AS v ORDER BY v;
    SELECT coalesce(array_agg(DISTINCT v.artifact_id), '{}') INTO touched_artifacts
      FROM artifact_versions v WHERE v.id = ANY(version_ids);

    INSERT INTO erasures (scope, target, reason, erased_by)
    VALUES (erase_scope, erase_target, erase_reason, erase_actor) RETURNING id INTO erasure;

    SELECT coalesce(array_agg(s.id), '{}') INTO span_ids
      FROM spans s WHERE s.artifact_version_id = ANY(version_ids);

    -- Reported, not changed: intents and decisions whose provenance cites an erased span,
    -- or that a relation joins to an erased artifact, version or span.
    WITH hit AS (
        SELECT p.target_type AS kind, p.target_id AS id
          FROM provenance p JOIN provenance_evidence e ON e.provenance_id = p.id
         WHERE e.span_id = ANY(span_ids) AND p.target_type IN ('intent', 'decision')
        UNION
        SELECT r.source_type, r.source_id FROM relations r
         WHERE r.source_type IN ('intent', 'decision')
           AND ((r.target_type = 'span' AND r.target_id = ANY(span_ids))
             OR (r.target_type = 'artifact_version' AND r.target_id = ANY(version_ids))
             OR (r.target_type = 'artifact' AND r.target_id = ANY(artifact_ids)))
        UNION
        SELECT r.target_type, r.target_id FROM relations r
         WHERE r.target_type IN ('intent', 'decision')
           AND ((r.source_type = 'span' AND r.source_id = ANY(span_ids))
             OR (r.source_type = 'artifact_version' AND r.source_id = ANY(version_ids))
             OR (r.source_type = 'artifact' AND r.source_id = ANY(artifact_ids)))
    )
    SELECT coalesce(jsonb_agg(DISTINCT id::text) FILTER (WHERE kind = 'intent'), '[]'),
           coalesce(jsonb_agg(DISTINCT id::text) FILTER (WHERE kind = 'decision'), '[]')
      INTO derived_intents, derived_decisions FROM hit;

    -- Evidence citing erased spans is marked.
    UPDATE provenance_evidence SET erasure_id = erasure WHERE span_id = ANY(span_ids);
    GET DIAGNOSTICS n_evidence = ROW_COUNT;

    -- Chunks (spans made for embedding) go, unless cited as evidence: with them their
    -- vectors, their provenance and relations touching them.
    SELECT coalesce(array_agg(s.id), '{}') INTO chunk_ids
      FROM spans s
     WHERE s.id = ANY(span_ids) AND s.span_type = 'chunk'
       AND NOT EXISTS (SELECT 1 FROM provenance_evidence e WHERE e.span_id = s.id);
    WITH gone AS (
        DELETE FROM embeddings
         WHERE (target_type = 'span' AND target_id = ANY(span_ids))
            OR (target_type = 'artifact_version' AND target_id = ANY(version_ids))
            OR (target_type = 'artifact' AND target_id = ANY(artifact_ids))
        RETURNING 1)
    SELECT count(*) INTO n_embeddings FROM gone;
    DELETE FROM provenance WHERE target_type = 'span' AND target_id = ANY(chunk_ids);
    WITH gone AS (
        DELETE FROM relations
         WHERE (source_type = 'span' AND source_id = ANY(chunk_ids))
            OR (target_type = 'span' AND target_id = ANY(chunk_ids))
        RETURNING 1)
    SELECT count(*) INTO n_relations FROM gone;
    DELETE FROM spans WHERE id = ANY(chunk_ids);
    GET DIAGNOSTICS n_chunks = ROW_COUNT;

    -- The other spans keep their offsets; their label and metadata (copies of the text)
    -- go, and reads of their text give null.
    UPDATE spans SET label = NULL, metadata = '{}'::jsonb
     WHERE artifact_version_id = ANY(version_ids);
    GET DIAGNOSTICS n_spans = ROW_COUNT;

    -- Search postings of the erased versions (the counters follow in mimir_drop_postings).
    SELECT count(*) INTO n_postings FROM search_postings WHERE version_id = ANY(version_ids);
    PERFORM mimir_drop_postings(v) FROM unnest(version_ids) AS v;

    -- The tombstones.
    SELECT coalesce(sum(content_length), 0) INTO n_chars
      FROM artifact_versions WHERE id = ANY(version_ids);
    PERFORM set_config('mimir.erasing', 'on', true);
    UPDATE artifact_versions
       SET content = '', content_hash = encode(sha256(''::bytea), 'hex'),
           metadata = '{}'::jsonb, erasure_id = erasure, erased_content_length = content_length
     WHERE id = ANY(version_ids);
    PERFORM set_config('mimir.erasing', 'off', true);
    UPDATE artifacts SET title = NULL, metadata = '{}'::jsonb WHERE id = ANY(artifact_ids);
    GET DIAGNOSTICS n_artifacts = ROW_COUNT;

    -- A short message's postings carry its predecessor's words (migration 0010): the
    -- latest versions whose predecessor lost content are indexed again.
    SELECT coalesce(array_agg(v.id), '{}') INTO successor_ids
      FROM artifacts a
      JOIN LATERAL (SELECT lv.id, lv.erasure_id FROM artifact_versions lv
                     WHERE lv.artifact_id = a.id
                     ORDER BY lv.version_number DESC LIMIT 1) v ON true
      JOIN LATERAL (SELECT p.id FROM artifacts p
                     WHERE p.source = a.source AND p.created_at < a.created_at
                       AND p.artifact_type = 'note'
                     ORDER BY p.created_at DESC, p.id DESC LIMIT 1) prev ON true
     WHERE a.artifact_type = 'note' AND a.source <> 'api' AND v.erasure_id IS NULL
       AND prev.id = ANY(touched_artifacts)
       AND a.source IN (SELECT t.source FROM artifacts t WHERE t.id = ANY(touched_artifacts));
    PERFORM mimir_write_postings(s) FROM unnest(successor_ids) AS s;

    tally := jsonb_build_object(
        'artifacts', n_artifacts, 'versions', cardinality(version_ids),
        'characters', n_chars, 'spans_cleared', n_spans, 'chunks_deleted', n_chunks,
        'embeddings_deleted', n_embeddings, 'postings_deleted', n_postings,
        'evidence_marked', n_evidence, 'relations_deleted', n_relations,
        'successors_reindexed', cardinality(successor_ids));
    UPDATE erasures
       SET counts = tally,
           derived = jsonb_build_object('intents', derived_intents, 'decisions', derived_decisions)
     WHERE id = erasure;
    INSERT INTO audit_log (action, actor, subject, details)
    VALUES ('erasure', erase_actor, erase_scope::text || ':' || erase_target,
            jsonb_build_object('erasure_id', erasure, 'reason', erase_reason,
                               'counts', tally));
    RETURN jsonb_build_object('id', erasure, 'version_ids', to_jsonb(version_ids),
                              'artifact_ids', to_jsonb(artifact_ids));
END $$;
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS mimir_erase(erasure_scope, text, text, text);
CREATE OR REPLACE FUNCTION mimir_reject_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'artifact versions are append-only (% rejected)', TG_OP
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'artifact_versions_append_only';
END $$;
DROP TABLE IF EXISTS audit_log;
ALTER TABLE provenance_evidence DROP COLUMN IF EXISTS erasure_id;
ALTER TABLE artifact_versions DROP CONSTRAINT IF EXISTS ck_artifact_versions_tombstone;
DROP INDEX IF EXISTS ix_artifact_versions_erasure_id;
ALTER TABLE artifact_versions DROP COLUMN IF EXISTS erased_content_length;
ALTER TABLE artifact_versions DROP COLUMN IF EXISTS erasure_id;
DROP TABLE IF EXISTS erasures;
DROP TYPE IF EXISTS erasure_scope;
"""


# A span must end inside its version's content; from 0011 on, a tombstone's spans keep the
# offsets of the content it had (restore brings them back that way). {length} is the
# length measured: 0011's, or 0009's on downgrade.
SPAN_CHECK = r"""
CREATE OR REPLACE FUNCTION mimir_check_span_within_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    version_length integer;
BEGIN
    SELECT {length} INTO version_length FROM artifact_versions WHERE id = NEW.artifact_version_id;
    IF version_length IS NOT NULL AND NEW.end_offset > version_length THEN
        RAISE EXCEPTION 'span [%, %) lies outside its version: offsets must be within [0, %]',
            NEW.start_offset, NEW.end_offset, version_length
            USING ERRCODE = 'check_violation', CONSTRAINT = 'spans_within_version';
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(SPAN_CHECK.replace("{length}", "coalesce(erased_content_length, content_length)"))


def downgrade() -> None:
    # Tombstones stay empty after a downgrade: erased text is not restored.
    op.execute(DOWNGRADE)
    op.execute(SPAN_CHECK.replace("{length}", "content_length"))
