-- name: semantic_find_nearest
-- Template (composed in mimir.search.semantic, not run as is): the nearest vectors of one
-- space through its partial HNSW index, restricted to the wanted target types so the
-- iterative scan keeps going until enough of them are found. {space_id}, {dims} and {op}
-- are filled in as SQL literals so the planner can match the space's partial index.
SELECT e.target_type, e.target_id,
       e.embedding::vector({dims}) {op} %(query_vector)s::vector({dims}) AS distance
  FROM embeddings e
 WHERE e.space_id = {space_id} AND e.namespace = %(namespace)s
   AND e.target_type = ANY(%(target_types)s::entity_type[])
 ORDER BY e.embedding::vector({dims}) {op} %(query_vector)s::vector({dims})
 LIMIT %(candidates)s;

-- name: semantic_find_nearest_scoped
-- Template for searches filtered by artifact kind, source or time: the nearest passages
-- among the versions in scope, found by exact distance when the scope is small ({order}
-- is the distance plus 0, which no index serves) or by the space's HNSW index with the
-- filter applied during the iterative scan when it is large ({order} is the distance).
-- Intents and decisions are searched only when no artifact filter is given.
WITH scoped AS (
    SELECT 'span'::entity_type AS target_type, e.target_id,
           e.embedding::vector({dims}) {op} %(query_vector)s::vector({dims}) AS distance
      FROM artifacts a
      JOIN artifact_versions v ON v.artifact_id = a.id AND v.namespace = a.namespace
      JOIN spans s ON s.artifact_version_id = v.id AND s.namespace = a.namespace
      JOIN embeddings e ON e.space_id = {space_id} AND e.target_type = 'span'
                       AND e.target_id = s.id AND e.namespace = a.namespace
     WHERE 'artifact_version' = ANY(%(entity_types)s::text[]) AND a.namespace = %(namespace)s
       AND (%(kinds)s::text[] IS NULL OR a.artifact_type::text = ANY(%(kinds)s::text[]))
       AND (%(sources)s::text[] IS NULL OR a.source = ANY(%(sources)s::text[]))
       AND (%(created_after)s::timestamptz IS NULL OR v.created_at >= %(created_after)s::timestamptz)
       AND (%(created_before)s::timestamptz IS NULL OR v.created_at < %(created_before)s::timestamptz)
       AND (NOT %(latest_only)s::boolean OR NOT EXISTS (
                SELECT 1 FROM artifact_versions newer
                 WHERE newer.artifact_id = v.artifact_id AND newer.namespace = %(namespace)s
                   AND newer.version_number > v.version_number))
     ORDER BY {order}
     LIMIT %(candidates)s
),
statements AS (
    SELECT e.target_type, e.target_id,
           e.embedding::vector({dims}) {op} %(query_vector)s::vector({dims}) AS distance
      FROM embeddings e
      LEFT JOIN intents i ON e.target_type = 'intent' AND i.id = e.target_id
                         AND i.namespace = e.namespace
      LEFT JOIN decisions d ON e.target_type = 'decision' AND d.id = e.target_id
                           AND d.namespace = e.namespace
     WHERE e.space_id = {space_id} AND e.namespace = %(namespace)s
       AND %(kinds)s::text[] IS NULL AND %(sources)s::text[] IS NULL
       AND ((e.target_type = 'intent' AND 'intent' = ANY(%(entity_types)s::text[])
             AND i.id IS NOT NULL)
            OR (e.target_type = 'decision' AND 'decision' = ANY(%(entity_types)s::text[])
                AND d.id IS NOT NULL))
       AND (%(created_after)s::timestamptz IS NULL
            OR coalesce(i.created_at, d.created_at) >= %(created_after)s::timestamptz)
       AND (%(created_before)s::timestamptz IS NULL
            OR coalesce(i.created_at, d.created_at) < %(created_before)s::timestamptz)
     ORDER BY {order}
     LIMIT %(candidates)s
)
SELECT * FROM scoped UNION ALL SELECT * FROM statements;

-- name: semantic_resolve_hits
-- Template: the {nearest} targets (either template above) resolved to versions (with the
-- passage: the message holding the chunk, or the chunk), intents and decisions, then
-- filtered by the search's scope (a no-op for what the scoped template already kept).
WITH nearest AS MATERIALIZED ({nearest}),
hits AS (
    SELECT 'artifact_version'::text AS entity_type, v.id AS entity_id, v.artifact_id,
           v.version_number, a.artifact_type::text AS artifact_kind, a.title, a.source, a.external_id,
           v.created_at, n.distance, coalesce(m.id, s.id) AS span_id,
           coalesce(m.span_type, s.span_type) AS span_type,
           coalesce(m.start_offset, s.start_offset) AS start_offset,
           coalesce(m.end_offset, s.end_offset) AS end_offset,
           substr(v.content, coalesce(m.start_offset, s.start_offset) + 1,
                  coalesce(m.end_offset, s.end_offset) - coalesce(m.start_offset, s.start_offset))
               AS text,
           v.version_number = (SELECT max(x.version_number) FROM artifact_versions x
                                WHERE x.artifact_id = v.artifact_id
                                  AND x.namespace = %(namespace)s) AS is_latest
      FROM nearest n
      JOIN spans s ON n.target_type = 'span' AND s.id = n.target_id
                  AND s.namespace = %(namespace)s
      JOIN artifact_versions v ON v.id = s.artifact_version_id AND v.namespace = s.namespace
      JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = s.namespace
      -- A conversation's passage is reported as the message that holds it.
      LEFT JOIN LATERAL (
          SELECT x.id, x.span_type, x.start_offset, x.end_offset FROM spans x
           WHERE x.artifact_version_id = s.artifact_version_id AND x.namespace = %(namespace)s
             AND x.span_type = 'message'
             AND x.start_offset <= s.start_offset AND x.end_offset >= s.end_offset
           ORDER BY x.start_offset DESC LIMIT 1) AS m ON true
    UNION ALL
    SELECT 'intent', i.id, NULL, NULL, NULL, NULL, NULL, NULL, i.created_at, n.distance,
           NULL, NULL, NULL, NULL, i.statement, true
      FROM nearest n JOIN intents i ON n.target_type = 'intent' AND i.id = n.target_id
                                   AND i.namespace = %(namespace)s
    UNION ALL
    SELECT 'decision', d.id, NULL, NULL, NULL, NULL, NULL, NULL, d.created_at, n.distance,
           NULL, NULL, NULL, NULL, d.statement, true
      FROM nearest n JOIN decisions d ON n.target_type = 'decision' AND d.id = n.target_id
                                     AND d.namespace = %(namespace)s
)
SELECT DISTINCT ON (entity_type, entity_id) *
  FROM hits
 WHERE entity_type = ANY(%(entity_types)s::text[])
   AND (NOT %(latest_only)s::boolean OR is_latest)
   AND (%(kinds)s::text[] IS NULL OR entity_type <> 'artifact_version' OR artifact_kind = ANY(%(kinds)s::text[]))
   AND (%(sources)s::text[] IS NULL OR entity_type <> 'artifact_version' OR source = ANY(%(sources)s::text[]))
   AND (%(created_after)s::timestamptz IS NULL OR created_at >= %(created_after)s::timestamptz)
   AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s::timestamptz)
 ORDER BY entity_type, entity_id, distance;

-- name: semantic_count_scope^
-- How many passages a filtered semantic search would look at, counted up to :cap + 1.
SELECT count(*) AS passages FROM (
    SELECT 1
      FROM artifacts a
      JOIN artifact_versions v ON v.artifact_id = a.id AND v.namespace = a.namespace
      JOIN spans s ON s.artifact_version_id = v.id AND s.namespace = a.namespace
     WHERE a.namespace = :namespace AND (:kinds::text[] IS NULL OR a.artifact_type::text = ANY(:kinds::text[]))
       AND (:sources::text[] IS NULL OR a.source = ANY(:sources::text[]))
       AND (:created_after::timestamptz IS NULL OR v.created_at >= :created_after::timestamptz)
       AND (:created_before::timestamptz IS NULL OR v.created_at < :created_before::timestamptz)
     LIMIT :cap + 1
) AS scope;

-- name: semantic_set_search_options!
-- For this transaction: how many candidates the HNSW index examines (hnsw.ef_search),
-- iterative index scans, which keep looking when the filters drop candidates, and plans
-- made for the actual parameter values: the scope count's optional filters
-- (`:x IS NULL OR ...`) reach for the source or time index only in such a plan (a prepared
-- statement's generic plan, used from its sixth run, scanned every passage: 15-18 ms for one
-- conversation's 600 messages at 100k).
SELECT set_config('hnsw.ef_search', CAST(:ef_search AS text), true),
       set_config('hnsw.iterative_scan', 'relaxed_order', true),
       set_config('plan_cache_mode', 'force_custom_plan', true);
