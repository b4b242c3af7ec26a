-- name: artifacts_insert^
-- Create an artifact; on a repeated (source, external_id) insert nothing and return no row.
INSERT INTO artifacts (artifact_type, title, source, external_id, metadata)
VALUES (:artifact_type::artifact_kind, :title, :source, :external_id, :metadata::jsonb)
ON CONFLICT (namespace, source, external_id) WHERE external_id IS NOT NULL DO NOTHING
RETURNING id, artifact_type, title, source, external_id, metadata, created_at;

-- name: artifacts_get_by_external_id^
-- The artifact imported from (source, external_id).
SELECT id, artifact_type, title, source, external_id, metadata, created_at
  FROM artifacts WHERE namespace = :namespace AND source = :source AND external_id = :external_id;

-- name: artifacts_get^
-- One artifact with its latest version number.
SELECT a.id, a.artifact_type, a.title, a.source, a.external_id, a.metadata, a.created_at,
       (SELECT max(version_number) FROM artifact_versions v
         WHERE v.artifact_id = a.id AND v.namespace = a.namespace) AS latest_version_number
  FROM artifacts a WHERE a.id = :id AND a.namespace = :namespace;

-- name: artifacts_lock^
-- Lock an artifact so that appends to it are numbered one at a time.
SELECT id FROM artifacts WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: artifacts_insert_version^
-- Append a version (the trigger checks that the number follows the latest).
INSERT INTO artifact_versions (artifact_id, version_number, content, content_hash, metadata,
                               created_by)
VALUES (:artifact_id, :version_number, :content, :content_hash, :metadata::jsonb, :created_by)
RETURNING id, artifact_id, version_number, content_hash, content_length, metadata, created_at, created_by,
       erasure_id, erased_content_length;

-- name: artifacts_get_latest_version^
-- The newest version of an artifact, without its content.
SELECT id, artifact_id, version_number, content_hash, content_length, metadata, created_at, created_by,
       erasure_id, erased_content_length
  FROM artifact_versions WHERE artifact_id = :artifact_id AND namespace = :namespace
 ORDER BY version_number DESC LIMIT 1;

-- name: artifacts_list_versions
-- Every version of an artifact, oldest first, without content.
SELECT id, artifact_id, version_number, content_hash, content_length, metadata, created_at, created_by,
       erasure_id, erased_content_length
  FROM artifact_versions WHERE artifact_id = :artifact_id AND namespace = :namespace
 ORDER BY version_number;

-- name: artifacts_get_version_by_number^
-- One version of an artifact, with its content.
SELECT id, artifact_id, version_number, content_hash, content_length, metadata, created_at, created_by,
       erasure_id, erased_content_length, content
  FROM artifact_versions
 WHERE artifact_id = :artifact_id AND version_number = :version_number
   AND namespace = :namespace;

-- name: artifacts_list
-- Base of the artifact listing (filtered and paged by mimir.query.listing).
SELECT a.id, a.artifact_type, a.title, a.source, a.external_id, a.metadata, a.created_at,
       (SELECT max(version_number) FROM artifact_versions v
         WHERE v.artifact_id = a.id AND v.namespace = a.namespace) AS latest_version_number
  FROM artifacts a WHERE a.namespace = :namespace
