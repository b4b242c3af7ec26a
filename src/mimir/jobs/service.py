"""What the job queue holds: counts by status and queue, recent failures with their
errors, the error record of a failed attempt, and retention. SQL in `sql/jobs.sql`."""

from __future__ import annotations

import re
from typing import Any

from psycopg import AsyncConnection

from mimir.db.queries import queries
from mimir.errors import redact_paths

# procrastinate's job states (its legacy `aborting` is no longer used by 3.x).
JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
# A worker that has not beaten for this long is not counted as live (it beats every 10 s).
LIVE_WORKER_S = 60.0
MAX_ERROR_CHARS = 2000
_URL_CREDENTIALS = re.compile(r"(\w+://)([^/@\s:]+)(:[^@\s/]*)?@")


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(JOB_STATUSES, 0)


async def queue_stats(conn: AsyncConnection, namespace: str) -> dict[str, Any]:
    """Job counts of `namespace` by status, overall and per queue, and the number of live
    workers (all of them: workers serve every namespace)."""
    by_status = _zero_counts()
    queues: dict[str, dict[str, int]] = {}
    async for row in queries.jobs_count_by_queue_and_status(conn, namespace=namespace):
        counts = queues.setdefault(row["queue"], _zero_counts())
        counts[row["status"]] = counts.get(row["status"], 0) + row["count"]
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["count"]
    workers = await queries.jobs_list_live_workers(conn, stale_after_s=LIVE_WORKER_S)
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "queues": [{"queue": name, "total": sum(counts.values()), "by_status": counts}
                   for name, counts in sorted(queues.items())],
        "workers": workers["workers"],
    }


async def recent_failures(conn: AsyncConnection, *, namespace: str, limit: int,
                          offset: int = 0, task_name: str | None = None,
                          queue: str | None = None) -> dict[str, Any]:
    """Failed jobs of `namespace`, most recently failed first, each with its last recorded
    error."""
    rows = [row async for row in queries.jobs_list_recent_failures(
        conn, namespace=namespace, task_name=task_name, queue=queue, limit=limit + 1,
        offset=offset)]
    total = await queries.jobs_count_failures(conn, namespace=namespace, task_name=task_name,
                                              queue=queue)
    items = [_failure(row) for row in rows[:limit]]
    return {"items": items, "total": total["total"], "has_more": len(rows) > limit}


def _failure(row: dict[str, Any]) -> dict[str, Any]:
    error = None
    if row["error_type"] is not None:
        error = {"type": row["error_type"], "message": row["error_message"],
                 "attempt": row["error_attempt"]}
    return {"id": row["id"], "task_name": row["task_name"], "queue": row["queue"],
            "attempts": row["attempts"], "args": row["args"], "failed_at": row["failed_at"],
            "error": error}


def error_summary(exc: BaseException) -> tuple[str, str]:
    """(type name, message) of an exception, fit to store: no NUL characters (PostgreSQL
    text cannot hold them), no credentials in URLs, no server paths, at most MAX_ERROR_CHARS characters."""
    message = str(exc).replace("\x00", "")
    message = _URL_CREDENTIALS.sub(r"\1[redacted]@", message)
    message = redact_paths(message)
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    return type(exc).__name__, message


async def record_job_error(conn: AsyncConnection, *, job_id: int, attempt: int,
                           exc: BaseException) -> None:
    """Keep the error of one failed attempt (`attempt` counts from 1)."""
    error_type, message = error_summary(exc)
    await queries.jobs_record_error(conn, job_id=job_id, attempt=attempt,
                                    error_type=error_type, message=message)


async def job_errors(conn: AsyncConnection, job_id: int) -> list[dict[str, Any]]:
    """Every recorded error of one job, first attempt first."""
    return [row async for row in queries.jobs_list_errors_of_job(conn, job_id=job_id)]


async def health_counts(conn: AsyncConnection) -> dict[str, int] | None:
    """{"queued", "running", "failed"} job counts for /health; None before migration 0002."""
    if not (await queries.jobs_exists_queue(conn))["present"]:
        return None
    return dict(await queries.jobs_count_for_health(conn))


async def prune(conn: AsyncConnection, *, keep_hours: int, keep_failed_hours: int
                ) -> dict[str, int]:
    """Delete finished jobs past their retention, with their errors; returns the counts."""
    return dict(await queries.jobs_prune(conn, keep_hours=keep_hours,
                                         keep_failed_hours=keep_failed_hours))


async def queue_schema_version(conn: AsyncConnection) -> str | None:
    """The procrastinate version whose schema the database holds (set by migration 0002)."""
    row = await queries.jobs_get_queue_schema_version(conn)
    return row["version"] if row else None
