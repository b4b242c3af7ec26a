-- Batch reads for GraphQL dataloaders: one statement per batch of keys, never one per
-- parent (`= ANY(:ids)`). Callers put the rows back in key order.
--
-- {columns} is the select list of the type the statement returns, from the read model
-- (graphql/model.py, ObjectType.select_list): the type's row is `a`, a span's version `v`.
-- graphql/loaders.py fills it in once at import. Orders are the read model's link orders
-- (tests/unit/test_read_model.py compares them).

-- name: loaders_artifacts
-- Artifacts by id.
SELECT {columns} FROM artifacts a WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_versions
-- Versions by id, without content.
SELECT {columns} FROM artifact_versions a WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_versions_of_artifacts
-- Every version of these artifacts, oldest first, without content.
SELECT {columns} FROM artifact_versions a WHERE a.artifact_id = ANY(:ids::uuid[]) AND a.namespace = :namespace
 ORDER BY a.artifact_id, a.version_number;

-- name: loaders_version_contents
-- The content of versions by id.
SELECT id, content FROM artifact_versions WHERE id = ANY(:ids::uuid[]) AND namespace = :namespace;

-- name: loaders_spans
-- Spans by id, with their artifact and covered text.
SELECT {columns}
  FROM spans a JOIN artifact_versions v ON v.id = a.artifact_version_id AND v.namespace = a.namespace
 WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_spans_of_versions
-- Every span of these versions, in offset order, with its covered text.
SELECT {columns}
  FROM spans a JOIN artifact_versions v ON v.id = a.artifact_version_id AND v.namespace = a.namespace
 WHERE a.artifact_version_id = ANY(:ids::uuid[]) AND a.namespace = :namespace
 ORDER BY a.artifact_version_id, a.start_offset, a.end_offset, a.id;

-- name: loaders_provenance
-- Provenance records by id, with their evidence span ids in order.
SELECT {columns} FROM provenance a WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_provenance_of_targets
-- Provenance of entities given as parallel arrays of types and ids, oldest first.
SELECT {columns}
  FROM provenance a
  JOIN unnest(:types::entity_type[], :ids::uuid[]) AS k(target_type, target_id)
    ON a.target_type = k.target_type AND a.target_id = k.target_id
 WHERE a.namespace = :namespace
 ORDER BY a.created_at, a.id;

-- name: loaders_provenance_citing_spans
-- Provenance records that cite these spans as evidence, with the citing span id.
SELECT e.span_id AS cited_span_id, {columns}
  FROM provenance_evidence e
  JOIN provenance a ON a.id = e.provenance_id AND a.namespace = e.namespace
 WHERE e.span_id = ANY(:ids::uuid[]) AND e.namespace = :namespace
 ORDER BY a.created_at, a.id;

-- name: loaders_intents
-- Intents by id.
SELECT {columns} FROM intents a WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_intents_of_groups
-- Member intents of these groups, oldest first.
SELECT {columns} FROM intents a WHERE a.intent_group_id = ANY(:ids::uuid[]) AND a.namespace = :namespace
 ORDER BY a.created_at, a.id;

-- name: loaders_intent_groups
-- Intent groups by id.
SELECT {columns} FROM intent_groups a WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_decisions
-- Decisions by id.
SELECT {columns} FROM decisions a WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_decisions_superseded_by
-- The decisions that these decisions superseded (keyed by superseded_by_id).
SELECT {columns} FROM decisions a WHERE a.superseded_by_id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_relations
-- Relations by id.
SELECT {columns} FROM relations a WHERE a.id = ANY(:ids::uuid[]) AND a.namespace = :namespace;

-- name: loaders_relations_of_entities
-- Relations with either end among entities given as parallel arrays of types and ids.
SELECT {columns}
  FROM relations a
  JOIN unnest(:types::entity_type[], :ids::uuid[]) AS k(entity_type, entity_id)
    ON (a.source_type = k.entity_type AND a.source_id = k.entity_id)
    OR (a.target_type = k.entity_type AND a.target_id = k.entity_id)
 WHERE a.namespace = :namespace
 ORDER BY a.created_at, a.id;

-- name: loaders_embedding_spaces
-- Every embedding space, by name.
SELECT {columns} FROM embedding_spaces a ORDER BY a.name;
