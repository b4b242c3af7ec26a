-- Jobs belong to the namespace in their `namespace` argument (issue 16); a job without one
-- (queued before namespaces, or global upkeep such as pruning) counts as `default`'s.

-- name: jobs_count_by_queue_and_status
-- Number of jobs of one namespace per (queue, status).
SELECT queue_name AS queue, status::text AS status, count(*)::int AS count
  FROM procrastinate_jobs
 WHERE coalesce(args->>'namespace', 'default') = :namespace
 GROUP BY queue_name, status
 ORDER BY queue_name, status;

-- name: jobs_list_live_workers^
-- Workers whose last heartbeat is more recent than :stale_after_s seconds.
SELECT count(*)::int AS workers
  FROM procrastinate_workers
 WHERE last_heartbeat > now() - make_interval(secs => :stale_after_s::float8);

-- name: jobs_exists_queue^
-- Whether the job queue's tables exist (migration 0002 has run).
SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present;

-- name: jobs_count_for_health^
-- Queued (todo), running (doing) and failed jobs, for /health.
SELECT count(*) FILTER (WHERE status = 'todo')::int AS queued,
       count(*) FILTER (WHERE status = 'doing')::int AS running,
       count(*) FILTER (WHERE status = 'failed')::int AS failed
  FROM procrastinate_jobs
 WHERE status IN ('todo', 'doing', 'failed');

-- name: jobs_list_recent_failures
-- Failed jobs of one namespace, most recently failed first, with the error of their last recorded attempt.
SELECT j.id, j.task_name, j.queue_name AS queue, j.attempts, j.args,
       f.failed_at, e.attempt AS error_attempt, e.error_type, e.message AS error_message
  FROM procrastinate_jobs j
  LEFT JOIN LATERAL (
        SELECT max(ev.at) AS failed_at FROM procrastinate_events ev
         WHERE ev.job_id = j.id AND ev.type = 'failed') f ON TRUE
  LEFT JOIN LATERAL (
        SELECT je.attempt, je.error_type, je.message FROM job_errors je
         WHERE je.job_id = j.id ORDER BY je.attempt DESC, je.created_at DESC LIMIT 1) e ON TRUE
 WHERE j.status = 'failed'
   AND coalesce(j.args->>'namespace', 'default') = :namespace
   AND (:task_name::text IS NULL OR j.task_name = :task_name::text)
   AND (:queue::text IS NULL OR j.queue_name = :queue::text)
 ORDER BY f.failed_at DESC NULLS LAST, j.id DESC
 LIMIT :limit::int OFFSET :offset::int;

-- name: jobs_count_failures^
-- Number of failed jobs matching the same filters as jobs_list_recent_failures.
SELECT count(*)::int AS total
  FROM procrastinate_jobs j
 WHERE j.status = 'failed'
   AND coalesce(j.args->>'namespace', 'default') = :namespace
   AND (:task_name::text IS NULL OR j.task_name = :task_name::text)
   AND (:queue::text IS NULL OR j.queue_name = :queue::text);

-- name: jobs_record_error!
-- Keep the error of one failed attempt of a job (attempt counts from 1).
INSERT INTO job_errors (job_id, attempt, error_type, message)
VALUES (:job_id, :attempt, :error_type, :message);

-- name: jobs_list_errors_of_job
-- Every recorded error of one job, first attempt first.
SELECT id, job_id, attempt, error_type, message, created_at
  FROM job_errors WHERE job_id = :job_id ORDER BY attempt, created_at;

-- name: jobs_prune^
-- Delete finished jobs (and their errors) whose last event is older than their status's
-- retention, and errors whose job no longer exists; count what went.
WITH finished AS (
    SELECT j.id, j.status,
           (SELECT max(ev.at) FROM procrastinate_events ev WHERE ev.job_id = j.id) AS last_at
      FROM procrastinate_jobs j
     WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
), deleted_jobs AS (
    DELETE FROM procrastinate_jobs j USING finished f
     WHERE j.id = f.id
       AND f.last_at < now() - make_interval(hours => CASE WHEN f.status = 'failed'
                                                           THEN :keep_failed_hours::int
                                                           ELSE :keep_hours::int END)
    RETURNING j.id
), deleted_errors AS (
    DELETE FROM job_errors je USING deleted_jobs d WHERE je.job_id = d.id RETURNING je.id
), orphan_errors AS (
    DELETE FROM job_errors je
     WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.id = je.job_id)
    RETURNING je.id
)
SELECT (SELECT count(*) FROM deleted_jobs)::int AS jobs,
       ((SELECT count(*) FROM deleted_errors) + (SELECT count(*) FROM orphan_errors))::int
           AS errors;

-- name: jobs_get_queue_schema_version^
-- The procrastinate version whose schema migration 0002 applied (from the table comment).
SELECT substring(obj_description('procrastinate_jobs'::regclass, 'pg_class')
                 FROM '^procrastinate (\S+)$') AS version;
