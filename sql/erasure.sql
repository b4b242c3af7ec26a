-- name: erasure_erase^
-- Erase (migration 0011's mimir_erase, in the caller's transaction); returns the erasure's
-- id and the versions and artifacts it emptied.
SELECT mimir_erase(:scope::erasure_scope, :target, :reason, :actor) AS result;

-- name: erasure_get^
-- One erasure record.
SELECT id, scope::text AS scope, target, reason, erased_by, counts, derived, erased_at
  FROM erasures WHERE id = :id AND namespace = :namespace;

-- name: erasure_target_exists^
-- Whether an erasure's target exists in the session's namespace (row-level security): an
-- artifact or version id, a source with artifacts, or the session's own namespace with
-- artifacts.
SELECT CASE :scope::text
           WHEN 'artifact' THEN EXISTS (SELECT 1 FROM artifacts
                                        WHERE id::text = :target AND namespace = :namespace)
           WHEN 'version' THEN EXISTS (SELECT 1 FROM artifact_versions
                                       WHERE id::text = :target AND namespace = :namespace)
           WHEN 'namespace' THEN :target = current_setting('mimir.namespace', true)
                                 AND EXISTS (SELECT 1 FROM artifacts WHERE namespace = :target)
           ELSE EXISTS (SELECT 1 FROM artifacts WHERE source = :target AND namespace = :namespace)
       END AS found;

-- name: erasure_list_audit
-- The audit log, newest first, optionally one action or one namespace only; a page after
-- the entry (:before_at, :before_id) when given (keyset).
SELECT id, action, actor, namespace, subject, details, created_at
  FROM audit_log
 WHERE (:action::text IS NULL OR action = :action)
   AND (:namespace::text IS NULL OR namespace = :namespace)
   AND (:before_at::timestamptz IS NULL
        OR (created_at, id) < (:before_at::timestamptz, :before_id::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT :limit;
