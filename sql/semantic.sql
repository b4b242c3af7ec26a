-- name: semantic_nearest
-- Template (composed in mimir.search.semantic, not run as is): nearest vectors of one space
-- through its partial HNSW index, then hits resolved to versions (with the chunk span),
-- intents and decisions and filtered. {space_id}, {dims} and {op} are filled in as SQL
-- literals so the planner can match the space's partial index.
WITH nearest AS MATERIALIZED (
    SELECT e.target_type, e.target_id,
           e.embedding::vector({dims}) {op} %(query_vector)s::vector({dims}) AS distance
      FROM embeddings e
     WHERE e.space_id = {space_id}
     ORDER BY e.embedding::vector({dims}) {op} %(query_vector)s::vector({dims})
     LIMIT %(candidates)s
),
hits AS (
    SELECT 'artifact_version'::text AS entity_type, v.id AS entity_id, v.artifact_id,
           v.version_number, a.kind::text AS artifact_kind, a.title, a.source,
           v.created_at, n.distance, s.id AS span_id, s.start_offset, s.end_offset,
           substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) AS text,
           v.version_number = (SELECT max(x.version_number) FROM artifact_versions x
                                WHERE x.artifact_id = v.artifact_id) AS is_latest
      FROM nearest n
      JOIN spans s ON n.target_type = 'span' AND s.id = n.target_id
      JOIN artifact_versions v ON v.id = s.version_id
      JOIN artifacts a ON a.id = v.artifact_id
    UNION ALL
    SELECT 'intent', i.id, NULL, NULL, NULL, NULL, NULL, i.created_at, n.distance,
           NULL, NULL, NULL, i.statement, true
      FROM nearest n JOIN intents i ON n.target_type = 'intent' AND i.id = n.target_id
    UNION ALL
    SELECT 'decision', d.id, NULL, NULL, NULL, NULL, NULL, d.created_at, n.distance,
           NULL, NULL, NULL, d.statement, true
      FROM nearest n JOIN decisions d ON n.target_type = 'decision' AND d.id = n.target_id
)
SELECT DISTINCT ON (entity_type, entity_id) *
  FROM hits
 WHERE entity_type = ANY(%(entity_types)s::text[])
   AND (NOT %(latest_only)s::boolean OR is_latest)
   AND (%(kinds)s::text[] IS NULL OR entity_type <> 'artifact_version' OR artifact_kind = ANY(%(kinds)s::text[]))
   AND (%(sources)s::text[] IS NULL OR entity_type <> 'artifact_version' OR source = ANY(%(sources)s::text[]))
   AND (%(created_after)s::timestamptz IS NULL OR created_at >= %(created_after)s::timestamptz)
   AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s::timestamptz)
 ORDER BY entity_type, entity_id, distance
