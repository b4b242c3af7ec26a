-- name: provenance_insert^
-- Record how an entity was produced.
INSERT INTO provenance (target_type, target_id, model_id, prompt_version, pipeline_version, metadata)
VALUES (:target_type::entity_type, :target_id, :model_id, :prompt_version, :pipeline_version,
        :metadata::jsonb)
RETURNING id, target_type, target_id, model_id, prompt_version,
          pipeline_version, metadata, created_at;

-- name: provenance_insert_evidence*!
-- Attach evidence spans to a provenance record, in order.
INSERT INTO provenance_evidence (provenance_id, span_id, position)
VALUES (:provenance_id, :span_id, :position);

-- name: provenance_list_existing_span_ids
-- Which of these span ids exist.
SELECT id FROM spans WHERE id = ANY(:ids::uuid[]) AND namespace = :namespace;

-- name: provenance_list_for_target
-- Every provenance record of one entity, oldest first, with its evidence span ids in order.
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
