-- Some of Mímir's statements (from sql/artifacts, entities, relations, decisions, intents,
-- provenance) as Citus needs them: the request's namespace bound as :namespace (Citus
-- routes the statement to that namespace's shard) and joins between distributed tables on
-- namespace too. pytest_citus.py puts them in place of the originals (MIMIR_CITUS_ROUTED=on),
-- binding the namespace of the request: a sample of the change every such statement needs.

-- name: artifacts_get^
SELECT a.id, a.artifact_type, a.title, a.source, a.external_id, a.metadata, a.created_at,
       (SELECT max(version_number) FROM artifact_versions v
         WHERE v.artifact_id = a.id AND v.namespace = a.namespace) AS latest_version_number
  FROM artifacts a WHERE a.id = :id AND a.namespace = :namespace;

-- name: artifacts_lock^
SELECT id FROM artifacts WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: artifacts_get_latest_version^
SELECT id, artifact_id, version_number, content_hash, content_length, metadata, created_at, created_by,
       erasure_id, erased_content_length
  FROM artifact_versions WHERE artifact_id = :artifact_id AND namespace = :namespace
 ORDER BY version_number DESC LIMIT 1;

-- name: entities_exists^
SELECT mimir_entity_exists(:entity_type::entity_type, :entity_id, :namespace) AS exists;

-- name: relations_check_ends_exist^
SELECT mimir_entity_exists(:source_type::entity_type, :source_id, :namespace) AS source_exists,
       mimir_entity_exists(:target_type::entity_type, :target_id, :namespace) AS target_exists;

-- name: decisions_lock^
SELECT id, status, superseded_by_id, rationale, metadata
  FROM decisions WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: intents_lock^
SELECT id, statement, status, intent_group_id, confidence, metadata, created_at,
       updated_at, proposed_by
  FROM intents WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: intents_lock_group_shared^
SELECT id, status, merged_into_id FROM intent_groups
 WHERE id = :id AND namespace = :namespace FOR SHARE;

-- name: intents_lock_group^
SELECT id, name, status, merged_into_id FROM intent_groups
 WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: relations_lock_ends!
SELECT id FROM relations WHERE id = ANY(:ids::uuid[]) AND namespace = :namespace
 ORDER BY id FOR SHARE;

-- GROUP BY p.id relied on id being the primary key; with (id, namespace) it is not.
-- name: provenance_list_for_target
SELECT p.id, p.target_type, p.target_id, p.model_id, p.prompt_version,
       p.pipeline_version, p.metadata, p.created_at,
       coalesce(array_agg(e.span_id ORDER BY e.position) FILTER (WHERE e.span_id IS NOT NULL),
                '{}') AS evidence_span_ids
  FROM provenance p
  LEFT JOIN provenance_evidence e ON e.provenance_id = p.id AND e.namespace = p.namespace
 WHERE p.target_type = :target_type::entity_type AND p.target_id = :target_id
   AND p.namespace = :namespace
 GROUP BY p.id, p.namespace
 ORDER BY p.created_at, p.id;

-- name: decisions_get^
SELECT d.id, d.statement, d.rationale, d.status, d.superseded_by_id,
       (SELECT p.id FROM decisions p
         WHERE p.superseded_by_id = d.id AND p.namespace = d.namespace) AS supersedes_id,
       d.metadata, d.created_at, d.updated_at
  FROM decisions d WHERE d.id = :id AND d.namespace = :namespace;

-- ON CONFLICT must name the unique constraint as it now is (with namespace), and Citus
-- refuses non-IMMUTABLE functions in DO UPDATE SET: now() becomes EXCLUDED.created_at
-- (the column default, now(), evaluated for the proposed row: the same value).
-- name: embeddings_upsert_many!
INSERT INTO embeddings (namespace, space_id, target_type, target_id, embedding)
SELECT :namespace, :space_id, :target_type::entity_type, t.target_id, t.vector::vector
  FROM unnest(:target_ids::uuid[], :vectors::text[]) AS t(target_id, vector)
ON CONFLICT (space_id, target_type, target_id, namespace)
DO UPDATE SET embedding = EXCLUDED.embedding, created_at = EXCLUDED.created_at;

-- name: embeddings_upsert_with_metadata!
INSERT INTO embeddings (namespace, space_id, target_type, target_id, embedding, metadata)
SELECT :namespace, :space_id, :target_type::entity_type, t.target_id, t.vector::vector,
       t.metadata::jsonb
  FROM unnest(:target_ids::uuid[], :vectors::text[], :metadata::text[])
       AS t(target_id, vector, metadata)
ON CONFLICT (space_id, target_type, target_id, namespace)
DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, created_at = EXCLUDED.created_at;
