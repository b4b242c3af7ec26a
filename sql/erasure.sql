-- name: erasure_erase^
-- Erase (migration 0011's mimir_erase, in the caller's transaction); returns the erasure's
-- id and the versions and artifacts it emptied.
SELECT mimir_erase(:scope::erasure_scope, :target, :reason, :actor) AS result;

-- name: erasure_get^
-- One erasure record.
SELECT id, scope::text AS scope, target, reason, erased_by, counts, derived, erased_at
  FROM erasures WHERE id = :id;

-- name: erasure_target_exists^
-- Whether an erasure's target exists: an artifact or version id, or a source with artifacts.
SELECT CASE :scope::text
           WHEN 'artifact' THEN EXISTS (SELECT 1 FROM artifacts WHERE id::text = :target)
           WHEN 'version' THEN EXISTS (SELECT 1 FROM artifact_versions WHERE id::text = :target)
           ELSE EXISTS (SELECT 1 FROM artifacts WHERE source = :target)
       END AS found;

-- name: erasure_list_audit
-- The audit log, newest first, optionally one action only.
SELECT id, action, actor, subject, details, created_at
  FROM audit_log
 WHERE (:action::text IS NULL OR action = :action)
 ORDER BY created_at DESC, id DESC
 LIMIT :limit;
