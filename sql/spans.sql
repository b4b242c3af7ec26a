-- name: spans_get_version_by_id^
-- The version a span would point into, with its length in code points (no content).
SELECT id, artifact_id, version_number, content_length
  FROM artifact_versions WHERE id = :artifact_version_id AND namespace = :namespace;

-- name: spans_get_version_by_number^
-- Version `version_number` of an artifact, with its length in code points (no content).
SELECT id, artifact_id, version_number, content_length
  FROM artifact_versions
 WHERE artifact_id = :artifact_id AND version_number = :version_number
   AND namespace = :namespace;

-- name: spans_exists_artifact^
-- Whether an artifact exists (to tell an unknown artifact from an unknown version).
SELECT EXISTS (SELECT 1 FROM artifacts WHERE id = :artifact_id AND namespace = :namespace) AS exists;

-- name: spans_insert^
-- Create a span (the trigger checks it ends inside its version) and return it with its text:
-- substr counts characters (code points) in a UTF8 database, like Python str indices.
WITH s AS (
    INSERT INTO spans (artifact_version_id, start_offset, end_offset, span_type, label, metadata)
    VALUES (:artifact_version_id, :start_offset, :end_offset, :span_type, :label, :metadata::jsonb)
    RETURNING id, artifact_version_id, start_offset, end_offset, span_type, label, metadata, created_at,
              namespace
)
SELECT s.id, s.artifact_version_id, v.artifact_id, v.version_number, s.start_offset, s.end_offset,
       s.span_type, s.label, s.metadata, s.created_at,
       CASE WHEN v.erasure_id IS NULL
                 THEN substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) END AS text
  FROM s JOIN artifact_versions v ON v.id = s.artifact_version_id AND v.namespace = s.namespace
 WHERE v.namespace = :namespace;

-- name: spans_get^
-- One span with its text, derived from its version's content (null once the content is
-- erased: the span keeps its offsets).
SELECT s.id, s.artifact_version_id, v.artifact_id, v.version_number, s.start_offset, s.end_offset,
       s.span_type, s.label, s.metadata, s.created_at,
       CASE WHEN v.erasure_id IS NULL
                 THEN substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) END AS text
  FROM spans s JOIN artifact_versions v ON v.id = s.artifact_version_id AND v.namespace = s.namespace
 WHERE s.id = :id AND s.namespace = :namespace;

-- name: spans_list_by_version
-- Base of the listing of one version's spans (filtered and paged by mimir.query.listing);
-- the text is only read from the content when :include_text is true.
SELECT s.id, s.artifact_version_id, v.artifact_id, v.version_number, s.start_offset, s.end_offset,
       s.span_type, s.label, s.metadata, s.created_at,
       CASE WHEN :include_text::boolean
            THEN CASE WHEN v.erasure_id IS NULL
                 THEN substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) END
       END AS text
  FROM spans s JOIN artifact_versions v ON v.id = s.artifact_version_id AND v.namespace = s.namespace
 WHERE s.artifact_version_id = :artifact_version_id AND s.namespace = :namespace

-- name: spans_list_by_artifact
-- Base of the listing of the spans of every version of one artifact (filtered and paged by
-- mimir.query.listing); the text is only read from the content when :include_text is true.
SELECT s.id, s.artifact_version_id, v.artifact_id, v.version_number, s.start_offset, s.end_offset,
       s.span_type, s.label, s.metadata, s.created_at,
       CASE WHEN :include_text::boolean
            THEN CASE WHEN v.erasure_id IS NULL
                 THEN substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) END
       END AS text
  FROM spans s JOIN artifact_versions v ON v.id = s.artifact_version_id AND v.namespace = s.namespace
 WHERE v.artifact_id = :artifact_id AND v.namespace = :namespace
