-- name: embeddings_get_space_by_name^
-- One embedding space by name.
SELECT id, name, model, dimensions, distance, metadata, created_at
  FROM embedding_spaces WHERE name = :name;

-- name: embeddings_insert_space^
-- Register an embedding space; a repeated name returns no row.
INSERT INTO embedding_spaces (name, model, dimensions, distance, metadata)
VALUES (:name, :model, :dimensions, :distance::embedding_distance, :metadata::jsonb)
ON CONFLICT (name) DO NOTHING
RETURNING id, name, model, dimensions, distance, metadata, created_at;

-- name: embeddings_list_spaces
-- Every embedding space with its number of embeddings.
SELECT s.id, s.name, s.model, s.dimensions, s.distance, s.metadata, s.created_at,
       coalesce(c.embedding_count, 0) AS embedding_count
  FROM embedding_spaces s
  LEFT JOIN (SELECT e.space_id, count(*) AS embedding_count FROM embeddings e
              WHERE e.namespace = :namespace GROUP BY e.space_id) c ON c.space_id = s.id
 ORDER BY s.name;

-- name: embeddings_get_version_for_indexing^
-- A version's content and identity, for chunking, with what gives its passages context:
-- the artifact's kind and title and both metadata objects.
SELECT v.id, v.artifact_id, v.version_number, v.content, v.metadata AS version_metadata,
       a.artifact_type::text AS kind, a.title, a.metadata AS artifact_metadata
  FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = v.namespace
 WHERE v.id = :id AND v.namespace = :namespace;

-- name: embeddings_list_messages_of_version
-- A conversation version's message spans, in order, with their metadata (role, author).
SELECT id, start_offset, end_offset, label, metadata FROM spans
 WHERE artifact_version_id = :version_id AND namespace = :namespace AND span_type = 'message'
 ORDER BY start_offset, end_offset;

-- name: embeddings_list_chunks_of_version
-- The chunk spans already made for a version, in order.
SELECT id, start_offset, end_offset FROM spans
 WHERE artifact_version_id = :version_id AND namespace = :namespace AND span_type = 'chunk'
 ORDER BY start_offset, end_offset;

-- name: embeddings_insert_chunks
-- Store chunks of a version as spans (span_type 'chunk'), returning them in offset order.
INSERT INTO spans (namespace, artifact_version_id, start_offset, end_offset, span_type, metadata)
SELECT :namespace, :version_id, c.start_offset, c.end_offset, 'chunk', jsonb_build_object('chunker', :chunker::text)
  FROM unnest(:starts::int[], :ends::int[]) AS c(start_offset, end_offset)
RETURNING id, start_offset, end_offset;

-- name: embeddings_upsert_many!
-- Write (or replace) the vectors of many targets in one space.
-- (created_at = EXCLUDED.created_at: the column default, now(), for the proposed row; Citus
-- allows only immutable expressions in DO UPDATE SET.)
INSERT INTO embeddings (namespace, space_id, target_type, target_id, embedding)
SELECT :namespace, :space_id, :target_type::entity_type, t.target_id, t.vector::vector
  FROM unnest(:target_ids::uuid[], :vectors::text[]) AS t(target_id, vector)
ON CONFLICT (space_id, target_type, target_id, namespace)
DO UPDATE SET embedding = EXCLUDED.embedding, created_at = EXCLUDED.created_at;

-- name: embeddings_upsert_with_metadata!
-- Write (or replace) client-made vectors of many targets in one space, each with its
-- metadata (a JSON object text per target).
INSERT INTO embeddings (namespace, space_id, target_type, target_id, embedding, metadata)
SELECT :namespace, :space_id, :target_type::entity_type, t.target_id, t.vector::vector,
       t.metadata::jsonb
  FROM unnest(:target_ids::uuid[], :vectors::text[], :metadata::text[])
       AS t(target_id, vector, metadata)
ON CONFLICT (space_id, target_type, target_id, namespace)
DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata,
              created_at = EXCLUDED.created_at;

-- name: embeddings_list_missing_targets
-- Which of these targets have no vector in the space yet.
SELECT t.target_id FROM unnest(:target_ids::uuid[]) AS t(target_id)
EXCEPT
SELECT e.target_id FROM embeddings e
 WHERE e.space_id = :space_id AND e.target_type = :target_type::entity_type
   AND e.target_id = ANY(:target_ids::uuid[]) AND e.namespace = :namespace;

-- name: embeddings_insert_provenance_many!
-- One provenance record per embedded target: model, chunker, space. (RETURNING: Citus then
-- writes the rows with INSERT statements; without it, by COPY, which row-level security
-- refuses.)
INSERT INTO provenance (namespace, target_type, target_id, model_id, pipeline_version, metadata)
SELECT :namespace, :target_type::entity_type, t.target_id, :model, :pipeline_version, :parameters::jsonb
  FROM unnest(:target_ids::uuid[]) AS t(target_id)
RETURNING id;

-- name: embeddings_get_text_of_intent^
-- The text that represents an intent in vector search.
SELECT id, statement AS text FROM intents WHERE id = :id AND namespace = :namespace;

-- name: embeddings_get_text_of_decision^
-- The text that represents a decision in vector search.
SELECT id, statement || coalesce(E'\n' || rationale, '') AS text FROM decisions
 WHERE id = :id AND namespace = :namespace;

-- name: embeddings_list_versions_without_chunks
-- Latest versions with no chunk spans yet (what a crashed or skipped indexing left behind),
-- and, given a :space_id, those with a chunk that has no vector in that space (chunks
-- embedded by another model before the default model changed). With the namespace of
-- each (run by the owner, over every namespace).
SELECT v.id, v.namespace FROM artifact_versions v
 WHERE v.content_length > 0
   AND (NOT EXISTS (SELECT 1 FROM spans s WHERE s.artifact_version_id = v.id
                       AND s.namespace = v.namespace AND s.span_type = 'chunk')
        OR (:space_id::uuid IS NOT NULL AND EXISTS (
                SELECT 1 FROM spans s
                 WHERE s.artifact_version_id = v.id AND s.namespace = v.namespace
                   AND s.span_type = 'chunk'
                   AND NOT EXISTS (SELECT 1 FROM embeddings e
                                    WHERE e.space_id = :space_id::uuid AND e.target_type = 'span'
                                      AND e.target_id = s.id AND e.namespace = s.namespace))))
 ORDER BY v.created_at LIMIT :limit;

-- name: embeddings_lock_version!
-- Lock one version's chunking until the transaction ends: two jobs for one version make
-- one set of chunks.
SELECT pg_advisory_xact_lock(hashtextextended(:version_id, 7));

-- name: embeddings_create_space_index!
-- The HNSW index of a space (created as the table owner; migration 0012).
SELECT mimir_create_space_index(:space_id::uuid);
