-- Batch reads for GraphQL dataloaders: one statement per batch of keys, never one per
-- parent (`= ANY(:ids)`). Callers put the rows back in key order.

-- name: load_artifacts
-- Artifacts by id.
SELECT id, kind, title, source, external_id, metadata, created_at
  FROM artifacts WHERE id = ANY(:ids::uuid[]);

-- name: load_versions
-- Versions by id, without content.
SELECT id, artifact_id, version_number, content_hash, content_length, metadata, created_at
  FROM artifact_versions WHERE id = ANY(:ids::uuid[]);

-- name: load_versions_of_artifacts
-- Every version of these artifacts, oldest first, without content.
SELECT id, artifact_id, version_number, content_hash, content_length, metadata, created_at
  FROM artifact_versions WHERE artifact_id = ANY(:ids::uuid[])
 ORDER BY artifact_id, version_number;

-- name: load_version_contents
-- The content of versions by id.
SELECT id, content FROM artifact_versions WHERE id = ANY(:ids::uuid[]);

-- name: load_spans
-- Spans by id, with their artifact and covered text (characters, as Python slices them).
SELECT s.id, s.version_id, v.artifact_id, s.start_offset, s.end_offset, s.span_type, s.label,
       s.metadata, s.created_at,
       substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) AS text
  FROM spans s JOIN artifact_versions v ON v.id = s.version_id
 WHERE s.id = ANY(:ids::uuid[]);

-- name: load_spans_of_versions
-- Every span of these versions, in offset order, with its covered text.
SELECT s.id, s.version_id, v.artifact_id, s.start_offset, s.end_offset, s.span_type, s.label,
       s.metadata, s.created_at,
       substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) AS text
  FROM spans s JOIN artifact_versions v ON v.id = s.version_id
 WHERE s.version_id = ANY(:ids::uuid[])
 ORDER BY s.version_id, s.start_offset, s.end_offset, s.id;

-- name: load_provenance
-- Provenance records by id, with their evidence span ids in order.
SELECT p.id, p.target_type, p.target_id, p.model, p.prompt_version, p.pipeline_version,
       p.parameters, p.created_at,
       coalesce((SELECT array_agg(e.span_id ORDER BY e.position)
                   FROM provenance_evidence e WHERE e.provenance_id = p.id), '{}') AS evidence_span_ids
  FROM provenance p WHERE p.id = ANY(:ids::uuid[]);

-- name: load_provenance_of_targets
-- Provenance of entities given as parallel arrays of types and ids, oldest first.
SELECT p.id, p.target_type, p.target_id, p.model, p.prompt_version, p.pipeline_version,
       p.parameters, p.created_at,
       coalesce((SELECT array_agg(e.span_id ORDER BY e.position)
                   FROM provenance_evidence e WHERE e.provenance_id = p.id), '{}') AS evidence_span_ids
  FROM provenance p
  JOIN unnest(:types::entity_type[], :ids::uuid[]) AS k(target_type, target_id)
    ON p.target_type = k.target_type AND p.target_id = k.target_id
 ORDER BY p.created_at, p.id;

-- name: load_provenance_citing_spans
-- Provenance records that cite these spans as evidence, with the citing span id.
SELECT e.span_id AS cited_span_id, p.id, p.target_type, p.target_id, p.model,
       p.prompt_version, p.pipeline_version, p.parameters, p.created_at,
       coalesce((SELECT array_agg(x.span_id ORDER BY x.position)
                   FROM provenance_evidence x WHERE x.provenance_id = p.id), '{}') AS evidence_span_ids
  FROM provenance_evidence e JOIN provenance p ON p.id = e.provenance_id
 WHERE e.span_id = ANY(:ids::uuid[])
 ORDER BY p.created_at, p.id;

-- name: load_intents
-- Intents by id.
SELECT id, statement, status, group_id, confidence, metadata, created_at, updated_at
  FROM intents WHERE id = ANY(:ids::uuid[]);

-- name: load_intents_of_groups
-- Member intents of these groups, oldest first.
SELECT id, statement, status, group_id, confidence, metadata, created_at, updated_at
  FROM intents WHERE group_id = ANY(:ids::uuid[])
 ORDER BY created_at, id;

-- name: load_intent_groups
-- Intent groups by id.
SELECT id, name, description, status, merged_into_id, metadata, created_at, updated_at
  FROM intent_groups WHERE id = ANY(:ids::uuid[]);

-- name: load_decisions
-- Decisions by id.
SELECT id, statement, rationale, status, superseded_by_id, metadata, created_at, updated_at
  FROM decisions WHERE id = ANY(:ids::uuid[]);

-- name: load_decisions_superseded_by
-- The decisions that these decisions superseded (keyed by superseded_by_id).
SELECT id, statement, rationale, status, superseded_by_id, metadata, created_at, updated_at
  FROM decisions WHERE superseded_by_id = ANY(:ids::uuid[]);

-- name: load_relations
-- Relations by id.
SELECT id, source_type, source_id, relation_type, target_type, target_id, metadata, created_at
  FROM relations WHERE id = ANY(:ids::uuid[]);

-- name: load_relations_of_entities
-- Relations with either end among entities given as parallel arrays of types and ids.
SELECT r.id, r.source_type, r.source_id, r.relation_type, r.target_type, r.target_id,
       r.metadata, r.created_at
  FROM relations r
  JOIN unnest(:types::entity_type[], :ids::uuid[]) AS k(entity_type, entity_id)
    ON (r.source_type = k.entity_type AND r.source_id = k.entity_id)
    OR (r.target_type = k.entity_type AND r.target_id = k.entity_id)
 ORDER BY r.created_at, r.id;

-- name: load_embedding_spaces
-- Every embedding space, by name.
SELECT id, name, model, dimensions, distance, metadata, created_at
  FROM embedding_spaces ORDER BY name;
