"""The job `imports.run`: run one uploaded import and keep its row up to date.

It marks the import `running`, runs the importer on the saved file while writing its
running counts to `progress` (at most every PROGRESS_INTERVAL_S seconds, and at the end),
then stores the `summary` and ends `succeeded`, or `failed` with an error a user can read.
The uploaded file is removed when the job ends, either way.

A failed import is not retried: a file that failed once fails again; the user re-posts it.
An interrupted one is resumed, by running it again from the start (importers are
idempotent: what was written is found unchanged), from the file kept for it:
- a worker killed mid-import (SIGKILL, a crash) leaves the job running under a dead
  worker; once that worker has missed its heartbeats the job is requeued
  (`mimir.jobs.worker.recover_stalled_jobs`) and runs again;
- a worker stopped mid-import (SIGTERM past its graceful timeout) cancels the job: the
  import goes back to `queued` with its file kept, and the job is retried at once on the
  next worker (`RetryAfterShutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from mimir.db.queries import queries
from mimir.embeddings import runtime
from mimir.imports.service import RUN_TASK, ImportKind, ImportStatus, to_json
from mimir.jobs.app import job_app
from mimir.jobs.service import error_summary
from mimir.logging import get_logger

log = get_logger("mimir.imports")

QUEUE = "imports"
PROGRESS_INTERVAL_S = 0.5
MAX_SUMMARY_ERRORS = 100
REQUEUE_TIMEOUT_S = 5.0


class ImportFailed(Exception):
    """The file cannot be imported; the message is for the user."""


class ProgressReporter:
    """Keeps the latest counts and writes them to the import's row, throttled."""

    def __init__(self, conn: AsyncConnection, import_id: str, base: dict[str, Any]) -> None:
        self.conn = conn
        self.import_id = import_id
        self.latest: dict[str, Any] = dict(base)
        self.written: dict[str, Any] | None = None
        self.last_write = 0.0
        self.lock = asyncio.Lock()

    def update(self, counts: dict[str, Any]) -> None:
        self.latest = {**self.latest, **counts}

    async def flush(self, *, force: bool = False) -> None:
        async with self.lock:
            if self.latest == self.written:
                return
            if not force and time.monotonic() - self.last_write < PROGRESS_INTERVAL_S:
                return
            snapshot = dict(self.latest)
            await queries.imports_set_progress(self.conn, id=self.import_id,
                                               progress=to_json(snapshot))
            self.written, self.last_write = snapshot, time.monotonic()

    async def tick(self) -> None:
        """Flush every PROGRESS_INTERVAL_S (for importers whose callback is not async)."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            await self.flush()


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
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     connect_timeout=5) as conn:
        await queries.imports_requeue(conn, id=import_id)


@job_app.task(name=RUN_TASK, queue=QUEUE, retry=RetryAfterShutdown())
async def run_import(import_id: str) -> str | None:
    """Run the uploaded import `import_id`; returns its final status."""
    rt = runtime.current()
    if rt is None:
        raise RuntimeError("the runtime is not configured in this process (no conninfo)")
    conninfo = rt.conninfo
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        row = await queries.imports_start(conn, id=import_id)
        if row is None:
            log.warning("import not found or already finished", import_id=import_id)
            return None
        path = Path(row["file_path"])
        try:
            size = path.stat().st_size  # noqa: ASYNC240 - one cheap syscall
        except OSError:
            size = None
        reporter = ProgressReporter(conn, import_id, {"file_bytes": size})
        status, summary, error, unexpected = ImportStatus.FAILED, None, None, None
        interrupted = False
        log.info("import started", import_id=import_id, kind=row["kind"])
        try:
            if row["kind"] == ImportKind.CHATGPT:
                summary, error = await _chatgpt(conninfo, path, reporter)
            else:
                summary, error = await _mimir(conninfo, path, reporter)
            status = ImportStatus.FAILED if error else ImportStatus.SUCCEEDED
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
        except FileNotFoundError as exc:
            error = f"the uploaded file is gone or incomplete: {exc.strerror or exc}"
        except Exception as exc:
            error = "the import failed unexpectedly: {}: {}".format(*error_summary(exc))
            unexpected = exc
        finally:
            if not interrupted:
                with contextlib.suppress(OSError):
                    path.unlink()  # noqa: ASYNC240 - one cheap syscall
        await reporter.flush(force=True)
        await queries.imports_finish(conn, id=import_id, status=status.value,
                                     summary=to_json(summary),
                                     error=error.replace("\x00", "") if error else None,
                                     progress=None)
        log.info("import finished", import_id=import_id, status=status.value)
        if unexpected is not None:
            raise unexpected
        return status.value


async def _chatgpt(conninfo: str, path: Path, reporter: ProgressReporter
                   ) -> tuple[dict[str, Any], str | None]:
    """The summary, and an error when the file could not be read to its end (the
    conversations before the fault are imported and counted)."""
    from mimir.importers.chatgpt import import_chatgpt

    async def on_progress(counts: dict[str, Any]) -> None:
        reporter.update(counts)
        await reporter.flush()

    rt = runtime.current()
    max_chars = getattr(rt.settings, "max_content_chars", None) if rt else None
    options = {"max_chars": max_chars} if max_chars else {}
    try:
        result = await import_chatgpt(conninfo, path, on_progress=on_progress, **options)
    except FileNotFoundError as exc:  # a zip without conversations.json
        raise ImportFailed(f"not a ChatGPT export: {exc}") from None
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. a corrupt zip
        raise ImportFailed(f"cannot read the file as a ChatGPT export: {exc}") from None
    summary = result.as_dict()
    errors = summary.get("errors") or []
    if len(errors) > MAX_SUMMARY_ERRORS:
        summary["errors"] = errors[:MAX_SUMMARY_ERRORS]
        summary["errors_truncated"] = len(errors) - MAX_SUMMARY_ERRORS
    if result.fatal:
        return summary, result.fatal
    if result.conversations_seen == 0:
        return summary, ("no conversations found: upload ChatGPT's conversations.json "
                         "(a JSON array of conversations) or the export's .zip")
    return summary, None


async def _mimir(conninfo: str, path: Path, reporter: ProgressReporter
                 ) -> tuple[dict[str, Any], None]:
    """Restore a `mimir export` file (all or nothing; only into an empty database)."""
    from mimir.portability.restore import RestoreError, open_input, restore_database

    rows: dict[str, int] = {}

    def on_table(table: str, count: int) -> None:
        rows[table] = count
        reporter.update({"rows": dict(rows)})

    started = time.perf_counter()
    ticker = asyncio.create_task(reporter.tick())
    try:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                         row_factory=dict_row) as conn:
            with open_input(str(path)) as lines:
                counts = await restore_database(conn, lines, progress=on_table)
    except RestoreError as exc:
        raise ImportFailed(f"nothing restored: {exc}") from None
    except (OSError, EOFError) as exc:  # e.g. a truncated gzip file
        raise ImportFailed(f"cannot read the file as a mimir export: {exc}") from None
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    reporter.update({"rows": dict(counts)})
    return {"rows": counts, "seconds": time.perf_counter() - started}, None
