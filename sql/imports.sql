-- name: imports_insert^
-- Record an uploaded import, queued (its file is already saved at file_path).
INSERT INTO imports (id, kind, filename, file_path, progress)
VALUES (:id, :kind, :filename, :file_path, :progress::jsonb)
RETURNING id, kind, status, filename, progress, summary, error, created_at, started_at,
          finished_at;

-- name: imports_get^
-- One import with its status, progress, summary and error.
SELECT id, kind, status, filename, progress, summary, error, created_at, started_at,
       finished_at
  FROM imports WHERE id = :id AND namespace = :namespace;

-- name: imports_list
-- Imports, newest first, optionally of one status and/or kind.
SELECT id, kind, status, filename, progress, summary, error, created_at, started_at,
       finished_at
  FROM imports
 WHERE namespace = :namespace AND (:status::text IS NULL OR status = :status::text)
   AND (:kind::text IS NULL OR kind = :kind::text)
 ORDER BY created_at DESC, id DESC
 LIMIT :limit OFFSET :offset;

-- name: imports_count^
-- How many imports match the list's filters.
SELECT count(*) AS total FROM imports
 WHERE namespace = :namespace AND (:status::text IS NULL OR status = :status::text)
   AND (:kind::text IS NULL OR kind = :kind::text);

-- name: imports_start^
-- Mark an import running (also one left `running` by a crashed worker) and count the
-- attempt in progress.attempts; no row when it already ended or does not exist.
UPDATE imports SET status = 'running', started_at = now(), finished_at = NULL,
                   summary = NULL, error = NULL,
                   progress = progress || jsonb_build_object(
                       'attempts', coalesce((progress->>'attempts')::int, 0) + 1)
 WHERE id = :id AND namespace = :namespace AND status IN ('queued', 'running')
RETURNING id, kind, filename, file_path, (progress->>'attempts')::int AS attempts;

-- name: imports_set_progress!
-- The running counts of an import in progress (merged into what progress holds).
UPDATE imports SET progress = progress || :progress::jsonb
 WHERE id = :id AND namespace = :namespace AND status = 'running';

-- name: imports_finish!
-- End an import: succeeded with its summary, or failed with its error.
UPDATE imports SET status = :status, summary = :summary::jsonb, error = :error,
                   progress = coalesce(:progress::jsonb, progress), finished_at = now()
 WHERE id = :id AND namespace = :namespace;

-- name: imports_requeue!
-- Put an import interrupted by a worker shutdown back to `queued` (its job is retried and
-- the import runs again from the start, which importers allow). Only a running import.
-- A clean stop is not the file's fault: its attempt is not counted.
UPDATE imports SET status = 'queued', summary = NULL, error = NULL, finished_at = NULL,
                   progress = progress || jsonb_build_object(
                       'attempts', greatest(coalesce((progress->>'attempts')::int, 1) - 1, 0))
 WHERE id = :id AND namespace = :namespace AND status = 'running';
