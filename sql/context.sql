-- name: context_get_slices
-- The exact text of code-point ranges of versions (ordinal, version, start, end), with the
-- version's artifact: what the context endpoint quotes.
SELECT p.ord, v.id AS version_id, v.artifact_id, v.version_number, a.title,
       v.content_length,
       substr(v.content, p.start_offset + 1, p.end_offset - p.start_offset) AS text
  FROM unnest(:version_ids::uuid[], :starts::int[], :ends::int[])
       WITH ORDINALITY AS p (version_id, start_offset, end_offset, ord)
  JOIN artifact_versions v ON v.id = p.version_id AND v.namespace = :namespace
  JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = v.namespace
 ORDER BY p.ord;

-- name: context_get_current_decisions
-- For each decision asked about, the decision at the head of its supersession chain
-- (itself when it is not superseded), followed at most :max_depth steps.
WITH RECURSIVE walk (origin_id, id, depth) AS (
    SELECT d.id, d.id, 0 FROM decisions d
     WHERE d.id = ANY(:ids::uuid[]) AND d.namespace = :namespace
    UNION ALL
    SELECT w.origin_id, d.superseded_by_id, w.depth + 1
      FROM walk w JOIN decisions d ON d.id = w.id AND d.namespace = :namespace
     WHERE d.superseded_by_id IS NOT NULL AND w.depth < :max_depth
)
SELECT DISTINCT ON (w.origin_id) w.origin_id, d.id, d.statement, d.status::text AS status,
       d.created_at
  FROM walk w JOIN decisions d ON d.id = w.id AND d.namespace = :namespace
 ORDER BY w.origin_id, w.depth DESC;

-- name: context_get_intents
-- Intents asked about, with their status.
SELECT i.id, i.statement, i.status::text AS status, i.created_at
  FROM intents i
 WHERE i.id = ANY(:ids::uuid[]) AND i.namespace = :namespace;
