"""One uploaded import, run inside the import process (`mimir.transfer.child`): the
importer on the saved file, its running counts written to the import's `progress` (at most
every PROGRESS_INTERVAL_S seconds, and at the end). Returns the summary and the error a
user can read; the job (`mimir.transfer.tasks`) records them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from mimir.db.queries import queries
from mimir.db.session import connect_app
from mimir.jobs.service import error_summary
from mimir.namespaces import context as namespace_context
from mimir.transfer.guard import JsonLimits, LimitExceeded
from mimir.transfer.uploads import ImportKind, to_json

PROGRESS_INTERVAL_S = 0.5
MAX_SUMMARY_ERRORS = 100


class ImportFailed(Exception):
    """The file cannot be imported; the message is for the user."""


class ProgressReporter:
    """Keeps the latest counts and writes them to the import's row, throttled."""

    def __init__(self, conn: AsyncConnection, import_id: str) -> None:
        self.conn = conn
        self.import_id = import_id
        self.latest: dict[str, Any] = {}
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


def describe(exc: BaseException) -> str:
    """An exception for the user: for OS errors the reason only, never the file name."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


async def run(conninfo: str, import_id: str, kind: str, path: Path, *, max_chars: int,
              limits: JsonLimits, namespace: str = namespace_context.DEFAULT,
              app_role: bool = True) -> dict[str, Any]:
    """Run the import in `namespace` (as the app role: row-level security); `{"summary",
    "error", "unexpected"}` (`unexpected`: the error is a bug, not the file's fault)."""
    with namespace_context.use(namespace):
        return await _run(conninfo, import_id, kind, path, max_chars=max_chars,
                          limits=limits, app_role=app_role)


async def _run(conninfo: str, import_id: str, kind: str, path: Path, *, max_chars: int,
               limits: JsonLimits, app_role: bool) -> dict[str, Any]:
    summary, error, unexpected = None, None, False
    namespace = namespace_context.current()
    async with await connect_app(conninfo, namespace, app_role=app_role) as conn:
        reporter = ProgressReporter(conn, import_id)
        try:
            if kind == ImportKind.CHATGPT:
                summary, error = await _chatgpt(conninfo, path, reporter, max_chars, limits,
                                                app_role)
            else:
                summary, error = await _mimir(conninfo, path, reporter, limits, app_role)
        except ImportFailed as exc:
            error = str(exc)
        except FileNotFoundError as exc:
            error = f"the uploaded file is gone or incomplete: {describe(exc)}"
        except MemoryError:
            raise
        except Exception as exc:
            error = "the import failed unexpectedly: {}: {}".format(*error_summary(exc))
            unexpected = True
        await reporter.flush(force=True)
    return {"summary": summary, "error": error, "unexpected": unexpected}


async def _chatgpt(conninfo: str, path: Path, reporter: ProgressReporter, max_chars: int,
                   limits: JsonLimits, app_role: bool) -> tuple[dict[str, Any], str | None]:
    """The summary, and an error when the file could not be read to its end (the
    conversations before the fault are imported and counted)."""
    from mimir.transfer.chatgpt import import_chatgpt

    async def on_progress(counts: dict[str, Any]) -> None:
        reporter.update(counts)
        await reporter.flush()

    try:
        result = await import_chatgpt(conninfo, path, on_progress=on_progress,
                                      max_chars=max_chars, limits=limits,
                                      namespace=namespace_context.current(), app_role=app_role)
    except LimitExceeded as exc:  # what a zip declares is refused before reading
        raise ImportFailed(f"refused: {exc}") from None
    except FileNotFoundError as exc:  # a zip without conversations.json
        raise ImportFailed(f"not a ChatGPT export: {describe(exc)}") from None
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. a corrupt zip
        raise ImportFailed(f"cannot read the file as a ChatGPT export: {describe(exc)}"
                           ) from None
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


async def _mimir(conninfo: str, path: Path, reporter: ProgressReporter, limits: JsonLimits,
                 app_role: bool) -> tuple[dict[str, Any], None]:
    """Restore a `mimir export` file into the import's namespace (all or nothing; only
    into an empty namespace)."""
    from mimir.transfer.restore import RestoreError, open_input, restore_namespace

    rows: dict[str, int] = {}

    def on_table(table: str, count: int) -> None:
        rows[table] = count
        reporter.update({"rows": dict(rows)})

    started = time.perf_counter()
    ticker = asyncio.create_task(reporter.tick())
    try:
        with open_input(str(path), limits) as lines:
            counts = await restore_namespace(conninfo, namespace_context.current(), lines,
                                             progress=on_table, app_role=app_role)
    except RestoreError as exc:
        raise ImportFailed(f"nothing restored: {exc}") from None
    except LimitExceeded as exc:
        raise ImportFailed(f"nothing restored: refused: {exc}") from None
    except (OSError, EOFError) as exc:  # e.g. a truncated gzip file
        raise ImportFailed(f"cannot read the file as a mimir export: {describe(exc)}"
                           ) from None
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    reporter.update({"rows": dict(counts)})
    return {"rows": counts, "seconds": time.perf_counter() - started}, None
