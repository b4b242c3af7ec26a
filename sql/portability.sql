-- Export (`mimir export`) and restore (`mimir import mimir`) of every domain table.
-- The export queries run on a server-side cursor inside one REPEATABLE READ snapshot; each
-- selects exactly the columns of the format (docs/export-format.md), in an order that
-- restore can insert as it reads. Generated columns (content_length, search_vector) are
-- left out: the target computes them again.

-- name: portability_list_nonempty_tables^
-- Which domain tables hold at least one row (restore only goes into an empty database).
SELECT EXISTS (SELECT 1 FROM erasures) AS erasures,
       EXISTS (SELECT 1 FROM artifacts) AS artifacts,
       EXISTS (SELECT 1 FROM artifact_versions) AS artifact_versions,
       EXISTS (SELECT 1 FROM spans) AS spans,
       EXISTS (SELECT 1 FROM intent_groups) AS intent_groups,
       EXISTS (SELECT 1 FROM intents) AS intents,
       EXISTS (SELECT 1 FROM decisions) AS decisions,
       EXISTS (SELECT 1 FROM relations) AS relations,
       EXISTS (SELECT 1 FROM provenance) AS provenance,
       EXISTS (SELECT 1 FROM embedding_spaces) AS embedding_spaces,
       EXISTS (SELECT 1 FROM embeddings) AS embeddings;

-- name: portability_list_space_ids
-- The ids of the embedding spaces present (shared by every namespace).
SELECT id::text AS id FROM embedding_spaces;

-- name: portability_lock_tables!
-- Keep other writers out of the domain tables while a restore fills them.
LOCK TABLE erasures, artifacts, artifact_versions, spans, intent_groups, intents, decisions, relations,
    provenance, provenance_evidence, embedding_spaces, embeddings IN SHARE ROW EXCLUSIVE MODE;

-- name: portability_export_erasures
-- Every erasure record (tombstoned versions refer to them).
SELECT id, scope::text AS scope, target, reason, erased_by, counts, derived, erased_at
  FROM erasures ORDER BY erased_at, id;

-- name: portability_export_artifacts
-- Every artifact.
SELECT id, artifact_type::text AS kind, title, source, external_id, metadata, created_at
  FROM artifacts ORDER BY created_at, id;

-- name: portability_export_artifact_versions
-- Every version with its content, numbered in order per artifact (the gap-free trigger);
-- a tombstone as it is (empty content, its erasure and its length before).
SELECT id, artifact_id, version_number, content, content_hash, metadata, created_at,
       created_by, erasure_id, erased_content_length
  FROM artifact_versions ORDER BY artifact_id, version_number;

-- name: portability_export_spans
-- Every span.
SELECT id, artifact_version_id AS version_id, start_offset, end_offset, span_type, label,
       metadata, created_at
  FROM spans ORDER BY created_at, id;

-- name: portability_export_intent_groups
-- Every intent group, with its final status and merge target.
SELECT id, name, description, status::text AS status, merged_into_id, metadata, created_at,
       updated_at
  FROM intent_groups ORDER BY created_at, id;

-- name: portability_export_intents
-- Every intent.
SELECT id, statement, status::text AS status, intent_group_id AS group_id, confidence, metadata, created_at,
       updated_at, proposed_by
  FROM intents ORDER BY created_at, id;

-- name: portability_export_decisions
-- Every decision, with its final status and successor.
SELECT id, statement, rationale, status::text AS status, superseded_by_id, metadata,
       created_at, updated_at
  FROM decisions ORDER BY created_at, id;

-- name: portability_export_relations
-- Every relation (relations between relations are ordered on restore).
SELECT id, source_type::text AS source_type, source_id, relation_type,
       target_type::text AS target_type, target_id, metadata, created_at
  FROM relations ORDER BY created_at, id;

-- name: portability_export_provenance
-- Every provenance record.
SELECT id, target_type::text AS target_type, target_id, model_id AS model,
       prompt_version, pipeline_version, metadata AS parameters, created_at
  FROM provenance ORDER BY created_at, id;

-- name: portability_export_provenance_evidence
-- Every evidence link of a provenance record to a span (erasure_id: the span's content
-- was erased).
SELECT provenance_id, span_id, position, erasure_id
  FROM provenance_evidence ORDER BY provenance_id, position, span_id;

-- name: portability_export_embedding_spaces
-- Every embedding space.
SELECT id, name, model, dimensions, distance::text AS distance, metadata, created_at
  FROM embedding_spaces ORDER BY created_at, id;

-- name: portability_export_embeddings
-- Every embedding, its vector in pgvector's text form (a JSON array).
SELECT id, space_id, target_type::text AS target_type, target_id, embedding::text AS embedding,
       created_at, metadata
  FROM embeddings ORDER BY space_id, created_at, id;

-- name: portability_copy_erasures!
-- Bulk load of erasure records.
COPY erasures (id, scope, target, reason, erased_by, counts, derived, erased_at) FROM STDIN;

-- name: portability_copy_artifacts!
-- Bulk load of artifacts (COPY, text format).
COPY artifacts (id, artifact_type, title, source, external_id, metadata, created_at) FROM STDIN;

-- name: portability_copy_artifact_versions!
-- Bulk load of versions; rows must come in version order per artifact.
COPY artifact_versions (id, artifact_id, version_number, content, content_hash, metadata,
    created_at, created_by, erasure_id, erased_content_length) FROM STDIN;

-- name: portability_copy_spans!
-- Bulk load of spans.
COPY spans (id, artifact_version_id, start_offset, end_offset, span_type, label, metadata,
    created_at) FROM STDIN;

-- name: portability_copy_intent_groups!
-- Bulk load of intent groups (merged ones arrive as active and are merged afterwards).
COPY intent_groups (id, name, description, status, merged_into_id, metadata, created_at,
    updated_at) FROM STDIN;

-- name: portability_copy_intents!
-- Bulk load of intents.
COPY intents (id, statement, status, intent_group_id, confidence, metadata, created_at, updated_at,
    proposed_by) FROM STDIN;

-- name: portability_copy_decisions!
-- Bulk load of decisions (superseded ones arrive as active and are superseded afterwards).
COPY decisions (id, statement, rationale, status, superseded_by_id, metadata, created_at,
    updated_at) FROM STDIN;

-- name: portability_copy_relations!
-- Bulk load of relations.
COPY relations (id, source_type, source_id, relation_type, target_type, target_id, metadata,
    created_at) FROM STDIN;

-- name: portability_copy_provenance!
-- Bulk load of provenance records.
COPY provenance (id, target_type, target_id, model_id, prompt_version, pipeline_version,
    metadata, created_at) FROM STDIN;

-- name: portability_copy_provenance_evidence!
-- Bulk load of evidence links.
COPY provenance_evidence (provenance_id, span_id, position, erasure_id) FROM STDIN;

-- name: portability_copy_embedding_spaces!
-- Bulk load of embedding spaces.
COPY embedding_spaces (id, name, model, dimensions, distance, metadata, created_at) FROM STDIN;

-- name: portability_copy_embeddings!
-- Bulk load of embeddings.
COPY embeddings (id, space_id, target_type, target_id, embedding, created_at, metadata)
    FROM STDIN;

-- name: portability_merge_groups!
-- Merge restored groups (one level of merge chains at a time, deepest first, so that each
-- target is not merged yet when a group is merged into it).
UPDATE intent_groups g
   SET status = 'merged', merged_into_id = m.target_id
  FROM unnest(:ids::uuid[], :target_ids::uuid[]) AS m(id, target_id)
 WHERE g.id = m.id;

-- name: portability_supersede_decisions!
-- Supersede restored decisions (one level of chains at a time, oldest first, so that each
-- successor is still current when it is set).
UPDATE decisions d
   SET status = 'superseded', superseded_by_id = s.successor_id
  FROM unnest(:ids::uuid[], :successor_ids::uuid[]) AS s(id, successor_id)
 WHERE d.id = s.id;
