"""The job `imports.run`: run one uploaded import in its own process and keep its row up
to date.

It marks the import `running` (counting the attempt, committed before anything is read),
runs the importer in a confined child process (`mimir.transfer.sandbox`: memory, time and
input limits), then stores the `summary` and ends `succeeded`, or `failed` with an error a
user can read and that names no server path. The uploaded file is removed when the job
ends, either way.

A failed import is not retried: a file that failed once fails again; the user re-posts it.
An interrupted one is resumed, by running it again from the start (importers are
idempotent: what was written is found unchanged), from the file kept for it:
- a worker killed mid-import (SIGKILL, a crash) leaves the job running under a dead
  worker; once that worker has missed its heartbeats the job is requeued
  (`mimir.jobs.worker.recover_stalled_jobs`) and runs again -- at most
  MIMIR_IMPORT_MAX_ATTEMPTS times in all: a start past that ends the import `failed`
  instead, so a file that somehow takes its server down cannot do it in a loop;
- a worker stopped mid-import (SIGTERM past its graceful timeout) cancels the job: the
  child process is stopped, the import goes back to `queued` with its file kept (this
  attempt not counted), and the job is retried at once on the next worker
  (`RetryAfterShutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job

from mimir.db.queries import queries
from mimir.db.session import connect_app
from mimir.embeddings import runtime
from mimir.errors import redact_paths
from mimir.jobs.app import namespaced_task
from mimir.logging import get_logger
from mimir.namespaces import context as namespace_context
from mimir.transfer.runner import ImportFailed
from mimir.transfer.sandbox import ImportLimits, run_in_child
from mimir.transfer.uploads import RUN_TASK, ImportStatus, to_json

log = get_logger("mimir.imports")

QUEUE = "imports"
REQUEUE_TIMEOUT_S = 5.0
DEFAULT_MAX_CHARS = 2_000_000


class RetryAfterShutdown(BaseRetryStrategy):
    """Retry the job, at once, only when it was cancelled (procrastinate aborts the jobs
    still running when a worker's graceful shutdown times out); any other failure is
    final. Bounded, so that an import that somehow always gets cancelled ends."""

    max_attempts = 20

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError) and job.attempts < self.max_attempts:
            return RetryDecision(retry_in={"seconds": 0})
        return None


async def _requeue(conninfo: str, import_id: str) -> None:
    """Mark an interrupted import `queued` again, on a fresh connection (the job's own may
    have been cut mid-query by the cancellation)."""
    async with await connect_app(conninfo, namespace_context.current(),
                                 app_role=_app_role(), connect_timeout=5) as conn:
        await queries.imports_requeue(conn, id=import_id)


def _app_role() -> bool:
    rt = runtime.current()
    return bool(getattr(rt.settings, "db_app_role", True)) if rt is not None else True


def scrub(text: str | None, path: Path) -> str | None:
    """No NUL characters and no server path in what the user reads: the upload's own path
    reads `<upload>`, any other absolute path `[path]`."""
    if text is None:
        return None
    for secret in (str(path), str(path.parent)):
        if len(secret) > 1:
            text = text.replace(secret, "<upload>")
    return redact_paths(text.replace("\x00", ""))


@namespaced_task(name=RUN_TASK, queue=QUEUE, retry=RetryAfterShutdown())
async def run_import(import_id: str) -> str | None:
    """Run the uploaded import `import_id` in the namespace it was uploaded in (the job's
    `namespace` argument); returns its final status."""
    rt = runtime.current()
    if rt is None:
        raise RuntimeError("the runtime is not configured in this process (no conninfo)")
    conninfo = rt.conninfo
    limits = ImportLimits.from_settings(rt.settings)
    namespace = namespace_context.current()
    async with await connect_app(conninfo, namespace, app_role=_app_role()) as conn:
        row = await queries.imports_start(conn, id=import_id)
        if row is None:
            log.warning("import not found or already finished", import_id=import_id)
            return None
        path = Path(row["file_path"])
        summary: dict[str, Any] | None = None
        error, unexpected, interrupted = None, None, False
        log.info("import started", import_id=import_id, kind=row["kind"],
                 attempt=row["attempts"])
        try:
            if row["attempts"] > limits.max_attempts:
                raise ImportFailed(
                    f"not tried again: the import was interrupted {row['attempts'] - 1} "
                    "times by a crash or kill of its server (MIMIR_IMPORT_MAX_ATTEMPTS)")
            result = await run_in_child(
                conninfo, import_id, row["kind"], path, limits=limits,
                max_chars=getattr(rt.settings, "max_content_chars", DEFAULT_MAX_CHARS),
                log_level=getattr(getattr(rt.settings, "log_level", None), "value", "INFO"),
                namespace=namespace, app_role=_app_role())
            summary, error = result.get("summary"), result.get("error")
            if result.get("unexpected"):
                unexpected = RuntimeError(error)
        except asyncio.CancelledError:
            # The worker is stopping: keep the file, put the import back in the queue (its
            # job is retried by RetryAfterShutdown) and let the cancellation go on.
            interrupted = True
            try:
                await asyncio.shield(asyncio.wait_for(_requeue(conninfo, import_id),
                                                      REQUEUE_TIMEOUT_S))
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("interrupted import not marked queued", import_id=import_id,
                            error_type=type(exc).__name__)
            log.warning("import interrupted; it will resume on the next worker",
                        import_id=import_id)
            raise
        except ImportFailed as exc:
            error = str(exc)
        finally:
            if not interrupted:
                with contextlib.suppress(OSError):
                    path.unlink()  # noqa: ASYNC240 - one cheap syscall
        status = ImportStatus.FAILED if error else ImportStatus.SUCCEEDED
        summary_json = scrub(to_json(summary), path)
        await queries.imports_finish(conn, id=import_id, status=status.value,
                                     summary=summary_json, error=scrub(error, path),
                                     progress=None)
        log.info("import finished", import_id=import_id, status=status.value)
        if unexpected is not None:
            raise unexpected
        return status.value
