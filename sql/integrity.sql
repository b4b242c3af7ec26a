-- The invariant checker (mimir.integrity, `mimir check`): one query per rule. Each returns
-- the offending rows as (subject, detail), at most :limit of them, and `total`, the number
-- of offending rows in all. They only read, and run in one REPEATABLE READ snapshot.
--
-- psycopg reads `%` as a placeholder: format() strings spell theirs `%%s`.
--
-- Polymorphic references (entity_type, id) are resolved with the same CASE in each query:
-- a plain lookup, never mimir_entity_exists(), which locks the rows it finds.

-- name: integrity_artifact_without_version_one
-- Artifacts that have no version 1 (a half-written artifact).
SELECT a.id::text AS subject,
       'artifact has no version 1 (versions present: '
           || coalesce((SELECT string_agg(v.version_number::text, ', '
                                          ORDER BY v.version_number)
                          FROM artifact_versions v WHERE v.artifact_id = a.id
                                                AND v.namespace = a.namespace), 'none')
           || ')' AS detail,
       count(*) OVER () AS total
  FROM artifacts a
 WHERE NOT EXISTS (SELECT 1 FROM artifact_versions v
                    WHERE v.artifact_id = a.id AND v.namespace = a.namespace
                      AND v.version_number = 1)
 ORDER BY a.id
 LIMIT :limit;

-- name: integrity_version_number_gaps
-- Artifacts whose version numbers are not exactly 1..n.
SELECT v.artifact_id::text AS subject,
       format('version numbers are %%s, not 1..%%s',
              string_agg(v.version_number::text, ', ' ORDER BY v.version_number),
              count(*)) AS detail,
       count(*) OVER () AS total
  FROM artifact_versions v
 GROUP BY v.namespace, v.artifact_id
HAVING min(v.version_number) <> 1 OR max(v.version_number) <> count(*)
 ORDER BY v.artifact_id
 LIMIT :limit;

-- name: integrity_version_without_artifact
-- Versions whose artifact does not exist.
SELECT v.id::text AS subject,
       format('version %%s of missing artifact %%s', v.version_number, v.artifact_id) AS detail,
       count(*) OVER () AS total
  FROM artifact_versions v
 WHERE NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.id = v.artifact_id AND a.namespace = v.namespace)
 ORDER BY v.id
 LIMIT :limit;

-- name: integrity_version_hash_mismatch
-- Versions whose content_hash is not the SHA-256 of their UTF-8 content.
SELECT v.id::text AS subject,
       format('version %%s of artifact %%s: content_hash %%s, but sha256(content) is %%s',
              v.version_number, v.artifact_id, v.content_hash,
              encode(sha256(convert_to(v.content, 'UTF8')), 'hex')) AS detail,
       count(*) OVER () AS total
  FROM artifact_versions v
 WHERE v.content_hash IS DISTINCT FROM encode(sha256(convert_to(v.content, 'UTF8')), 'hex')
 ORDER BY v.id
 LIMIT :limit;

-- name: integrity_span_without_version
-- Spans whose version does not exist (chunk spans included).
SELECT s.id::text AS subject,
       format('%%s span [%%s, %%s) of missing version %%s', s.span_type, s.start_offset,
              s.end_offset, s.artifact_version_id) AS detail,
       count(*) OVER () AS total
  FROM spans s
 WHERE NOT EXISTS (SELECT 1 FROM artifact_versions v WHERE v.id = s.artifact_version_id AND v.namespace = s.namespace)
 ORDER BY s.id
 LIMIT :limit;

-- name: integrity_span_outside_content
-- Spans whose offsets are not 0 <= start < end <= the version's length (in code points;
-- for a tombstone, the length its content had before it was erased).
SELECT s.id::text AS subject,
       format('%%s span [%%s, %%s) of version %%s (%%s characters)', s.span_type, s.start_offset,
              s.end_offset, s.artifact_version_id,
              coalesce(v.erased_content_length, v.content_length)) AS detail,
       count(*) OVER () AS total
  FROM spans s
  JOIN artifact_versions v ON v.id = s.artifact_version_id AND v.namespace = s.namespace
 WHERE s.start_offset < 0 OR s.end_offset <= s.start_offset
    OR s.end_offset > coalesce(v.erased_content_length, v.content_length)
 ORDER BY s.id
 LIMIT :limit;

-- name: integrity_provenance_without_target
-- Provenance records whose target entity does not exist.
SELECT p.id::text AS subject,
       format('provenance of missing %%s %%s', p.target_type, p.target_id) AS detail,
       count(*) OVER () AS total
  FROM provenance p
 WHERE NOT CASE p.target_type
        WHEN 'artifact' THEN EXISTS (SELECT 1 FROM artifacts x WHERE x.id = p.target_id AND x.namespace = p.namespace)
        WHEN 'artifact_version' THEN
            EXISTS (SELECT 1 FROM artifact_versions x WHERE x.id = p.target_id AND x.namespace = p.namespace)
        WHEN 'intent' THEN EXISTS (SELECT 1 FROM intents x WHERE x.id = p.target_id AND x.namespace = p.namespace)
        WHEN 'intent_group' THEN EXISTS (SELECT 1 FROM intent_groups x WHERE x.id = p.target_id AND x.namespace = p.namespace)
        WHEN 'decision' THEN EXISTS (SELECT 1 FROM decisions x WHERE x.id = p.target_id AND x.namespace = p.namespace)
        WHEN 'span' THEN EXISTS (SELECT 1 FROM spans x WHERE x.id = p.target_id AND x.namespace = p.namespace)
        WHEN 'relation' THEN EXISTS (SELECT 1 FROM relations x WHERE x.id = p.target_id AND x.namespace = p.namespace)
        ELSE FALSE END
 ORDER BY p.id
 LIMIT :limit;

-- name: integrity_evidence_without_span
-- Evidence rows citing a span that does not exist.
SELECT e.provenance_id::text AS subject,
       format('evidence #%%s cites missing span %%s', e.position, e.span_id) AS detail,
       count(*) OVER () AS total
  FROM provenance_evidence e
 WHERE NOT EXISTS (SELECT 1 FROM spans s WHERE s.id = e.span_id AND s.namespace = e.namespace)
 ORDER BY e.provenance_id, e.position
 LIMIT :limit;

-- name: integrity_evidence_without_provenance
-- Evidence rows whose provenance record does not exist.
SELECT e.provenance_id::text AS subject,
       format('evidence span %%s of missing provenance record', e.span_id) AS detail,
       count(*) OVER () AS total
  FROM provenance_evidence e
 WHERE NOT EXISTS (SELECT 1 FROM provenance p WHERE p.id = e.provenance_id AND p.namespace = e.namespace)
 ORDER BY e.provenance_id, e.position
 LIMIT :limit;

-- name: integrity_relation_end_missing
-- Relations whose source or target entity does not exist.
WITH ends AS (
    SELECT r.id, 'source' AS end_name, r.source_type AS kind, r.source_id AS entity_id,
           r.relation_type, r.namespace
      FROM relations r
    UNION ALL
    SELECT r.id, 'target', r.target_type, r.target_id, r.relation_type, r.namespace
      FROM relations r
)
SELECT e.id::text AS subject,
       format('%%s relation: %%s %%s %%s does not exist', e.relation_type, e.end_name, e.kind,
              e.entity_id) AS detail,
       count(*) OVER () AS total
  FROM ends e
 WHERE NOT CASE e.kind
        WHEN 'artifact' THEN EXISTS (SELECT 1 FROM artifacts x WHERE x.id = e.entity_id AND x.namespace = e.namespace)
        WHEN 'artifact_version' THEN
            EXISTS (SELECT 1 FROM artifact_versions x WHERE x.id = e.entity_id AND x.namespace = e.namespace)
        WHEN 'intent' THEN EXISTS (SELECT 1 FROM intents x WHERE x.id = e.entity_id AND x.namespace = e.namespace)
        WHEN 'intent_group' THEN EXISTS (SELECT 1 FROM intent_groups x WHERE x.id = e.entity_id AND x.namespace = e.namespace)
        WHEN 'decision' THEN EXISTS (SELECT 1 FROM decisions x WHERE x.id = e.entity_id AND x.namespace = e.namespace)
        WHEN 'span' THEN EXISTS (SELECT 1 FROM spans x WHERE x.id = e.entity_id AND x.namespace = e.namespace)
        WHEN 'relation' THEN EXISTS (SELECT 1 FROM relations x WHERE x.id = e.entity_id AND x.namespace = e.namespace)
        ELSE FALSE END
 ORDER BY e.id, e.end_name
 LIMIT :limit;

-- name: integrity_embedding_target_missing
-- Embeddings whose target entity (a chunk span, an intent, ...) does not exist.
SELECT m.id::text AS subject,
       format('embedding of missing %%s %%s', m.target_type, m.target_id) AS detail,
       count(*) OVER () AS total
  FROM embeddings m
 WHERE NOT CASE m.target_type
        WHEN 'artifact' THEN EXISTS (SELECT 1 FROM artifacts x WHERE x.id = m.target_id AND x.namespace = m.namespace)
        WHEN 'artifact_version' THEN
            EXISTS (SELECT 1 FROM artifact_versions x WHERE x.id = m.target_id AND x.namespace = m.namespace)
        WHEN 'intent' THEN EXISTS (SELECT 1 FROM intents x WHERE x.id = m.target_id AND x.namespace = m.namespace)
        WHEN 'intent_group' THEN EXISTS (SELECT 1 FROM intent_groups x WHERE x.id = m.target_id AND x.namespace = m.namespace)
        WHEN 'decision' THEN EXISTS (SELECT 1 FROM decisions x WHERE x.id = m.target_id AND x.namespace = m.namespace)
        WHEN 'span' THEN EXISTS (SELECT 1 FROM spans x WHERE x.id = m.target_id AND x.namespace = m.namespace)
        WHEN 'relation' THEN EXISTS (SELECT 1 FROM relations x WHERE x.id = m.target_id AND x.namespace = m.namespace)
        ELSE FALSE END
 ORDER BY m.id
 LIMIT :limit;

-- name: integrity_namespace_mismatch
-- References no foreign key holds to one namespace (relation ends, provenance targets,
-- embedding targets) whose entity is in another namespace than the referring row (the
-- triggers of migration 0012 refuse them; this finds any written around them).
WITH entities AS (
    SELECT 'artifact' AS kind, id, namespace FROM artifacts
    UNION ALL SELECT 'artifact_version', id, namespace FROM artifact_versions
    UNION ALL SELECT 'intent', id, namespace FROM intents
    UNION ALL SELECT 'intent_group', id, namespace FROM intent_groups
    UNION ALL SELECT 'decision', id, namespace FROM decisions
    UNION ALL SELECT 'span', id, namespace FROM spans
    UNION ALL SELECT 'relation', id, namespace FROM relations
), refs AS (
    SELECT 'relation' AS referrer, r.id, r.namespace, 'source' AS role,
           r.source_type::text AS kind, r.source_id AS entity_id FROM relations r
    UNION ALL
    SELECT 'relation', r.id, r.namespace, 'target', r.target_type::text, r.target_id
      FROM relations r
    UNION ALL
    SELECT 'provenance', p.id, p.namespace, 'target', p.target_type::text, p.target_id
      FROM provenance p
    UNION ALL
    SELECT 'embedding', m.id, m.namespace, 'target', m.target_type::text, m.target_id
      FROM embeddings m
)
SELECT r.id::text AS subject,
       format('%%s in namespace %%s: its %%s %%s %%s is in namespace %%s', r.referrer,
              r.namespace, r.role, r.kind, r.entity_id, e.namespace) AS detail,
       count(*) OVER () AS total
  FROM refs r
  JOIN entities e ON e.kind = r.kind AND e.id = r.entity_id
 WHERE e.namespace <> r.namespace
   -- ids are unique per namespace (migration 0014): the same id in the referrer's own
   -- namespace is the entity it means.
   AND NOT EXISTS (SELECT 1 FROM entities own WHERE own.kind = r.kind
                      AND own.id = r.entity_id AND own.namespace = r.namespace)
 ORDER BY r.id, r.role
 LIMIT :limit;

-- name: integrity_embedding_space_mismatch
-- Embeddings whose space does not exist or whose dimensions are not the space's.
SELECT m.id::text AS subject,
       CASE WHEN s.id IS NULL THEN format('embedding in missing space %%s', m.space_id)
            ELSE format('embedding has %%s dimensions; space %%s expects %%s',
                        vector_dims(m.embedding), s.name, s.dimensions) END AS detail,
       count(*) OVER () AS total
  FROM embeddings m
  LEFT JOIN embedding_spaces s ON s.id = m.space_id
 WHERE s.id IS NULL OR vector_dims(m.embedding) <> s.dimensions
 ORDER BY m.id
 LIMIT :limit;

-- name: integrity_reference_missing
-- Plain references whose row does not exist: an intent's group, a group's merge target,
-- a decision's successor.
WITH refs AS (
    SELECT i.id, 'intent' AS kind, 'group' AS ref, i.intent_group_id AS ref_id,
           EXISTS (SELECT 1 FROM intent_groups g WHERE g.id = i.intent_group_id AND g.namespace = i.namespace) AS present
      FROM intents i WHERE i.intent_group_id IS NOT NULL
    UNION ALL
    SELECT g.id, 'intent_group', 'merged_into', g.merged_into_id,
           EXISTS (SELECT 1 FROM intent_groups t WHERE t.id = g.merged_into_id AND t.namespace = g.namespace)
      FROM intent_groups g WHERE g.merged_into_id IS NOT NULL
    UNION ALL
    SELECT d.id, 'decision', 'superseded_by', d.superseded_by_id,
           EXISTS (SELECT 1 FROM decisions t WHERE t.id = d.superseded_by_id AND t.namespace = d.namespace)
      FROM decisions d WHERE d.superseded_by_id IS NOT NULL
)
SELECT r.id::text AS subject,
       format('%%s %%s: %%s %%s does not exist', r.kind, r.id, r.ref, r.ref_id) AS detail,
       count(*) OVER () AS total
  FROM refs r
 WHERE NOT r.present
 ORDER BY r.kind, r.id
 LIMIT :limit;

-- name: integrity_imports_stalled
-- Imports still queued or running with no job that will finish them: no queued or running
-- `imports.run` job for the import, or only one held by a worker silent for more than
-- :stale_after_s seconds (a killed process whose job was not requeued yet). The queue's
-- tables are read first, on their own (on Citus they are local to the coordinator and
-- `imports` is distributed: a direct join of the two is refused).
WITH jobs AS MATERIALIZED (
    SELECT DISTINCT ON (job.args ->> 'import_id')
           job.args ->> 'import_id' AS import_id, job.id, job.status, w.last_heartbeat
      FROM procrastinate_jobs job
      LEFT JOIN procrastinate_workers w ON w.id = job.worker_id
     WHERE job.task_name = 'imports.run'
       AND job.status IN ('todo', 'doing')
     ORDER BY job.args ->> 'import_id', job.id DESC
)
SELECT i.id::text AS subject,
       format('import of %%s (%%s) is %%s since %%s: %%s', i.filename, i.kind, i.status,
              to_char(coalesce(i.started_at, i.created_at) AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              CASE WHEN j.id IS NULL THEN 'no queued or running job'
                   ELSE format('job %%s is held by a worker silent for %%s s', j.id,
                               coalesce(round(extract(epoch FROM now() - j.last_heartbeat))::text,
                                        '?')) END) AS detail,
       count(*) OVER () AS total
  FROM imports i
  LEFT JOIN jobs j ON j.import_id = i.id::text
 WHERE i.status IN ('queued', 'running')
   AND (j.id IS NULL
        OR (j.status = 'doing'
            AND (j.last_heartbeat IS NULL
                 OR j.last_heartbeat < now() - make_interval(secs => :stale_after_s::float8))))
 ORDER BY i.created_at, i.id
 LIMIT :limit;

-- name: integrity_search_postings_stale
-- Versions whose full-text postings do not match what the trigger of migration 0007
-- writes: postings of a version that is not its artifact's latest, or a latest version
-- with words but no postings.
WITH latest AS (
    SELECT DISTINCT ON (v.namespace, v.artifact_id) v.id, v.namespace, v.search_vector
      FROM artifact_versions v
     ORDER BY v.namespace, v.artifact_id, v.version_number DESC
), indexed AS (
    SELECT DISTINCT p.version_id, p.namespace FROM search_postings p
), bad AS (
    SELECT i.version_id AS id, 'has postings but is not its artifact''s latest version' AS detail
      FROM indexed i WHERE NOT EXISTS (SELECT 1 FROM latest l WHERE l.id = i.version_id
                                                       AND l.namespace = i.namespace)
    UNION ALL
    SELECT l.id, 'latest version with words but no postings'
      FROM latest l
     WHERE length(l.search_vector) > 0
       AND NOT EXISTS (SELECT 1 FROM indexed i WHERE i.version_id = l.id
                                                  AND i.namespace = l.namespace)
)
SELECT id::text AS subject, detail, count(*) OVER () AS total
  FROM bad
 ORDER BY id
 LIMIT :limit;

-- name: integrity_search_stats_drift
-- The BM25 counters (search_stats) against a recount of the postings.
WITH counted AS (
    SELECT count(DISTINCT (namespace, version_id)) AS docs, coalesce(sum(tf), 0) AS total_len
      FROM search_postings
), kept AS (
    SELECT coalesce(sum(docs), 0) AS docs, coalesce(sum(total_len), 0) AS total_len
      FROM search_stats
)
SELECT 'search_stats' AS subject,
       format('counters say %%s documents / %%s words, postings hold %%s / %%s',
              k.docs, k.total_len, c.docs, c.total_len) AS detail,
       1 AS total
  FROM counted c, kept k
 WHERE c.docs <> k.docs OR c.total_len <> k.total_len
 LIMIT :limit;
