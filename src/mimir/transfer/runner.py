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

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from mimir.db.queries import queries
from mimir.jobs.service import error_summary
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
              limits: JsonLimits) -> dict[str, Any]:
    """Run the import; `{"summary", "error", "unexpected"}` (`unexpected`: the error is a
    bug, not the file's fault)."""
    summary, error, unexpected = None, None, False
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        reporter = ProgressReporter(conn, import_id)
        try:
            if kind == ImportKind.CHATGPT:
                summary, error = await _chatgpt(conninfo, path, reporter, max_chars, limits)
            else:
                summary, error = await _mimir(conninfo, path, reporter, limits)
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
                   limits: JsonLimits) -> tuple[dict[str, Any], str | None]:
    """The summary, and an error when the file could not be read to its end (the
    conversations before the fault are imported and counted)."""
    from mimir.transfer.chatgpt import import_chatgpt

    async def on_progress(counts: dict[str, Any]) -> None:
        reporter.update(counts)
        await reporter.flush()

    try:
        result = await import_chatgpt(conninfo, path, on_progress=on_progress,
                                      max_chars=max_chars, limits=limits)
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


async def _mimir(conninfo: str, path: Path, reporter: ProgressReporter, limits: JsonLimits
                 ) -> tuple[dict[str, Any], None]:
    """Restore a `mimir export` file (all or nothing; only into an empty database)."""
    from mimir.transfer.restore import RestoreError, open_input, restore_database

    rows: dict[str, int] = {}

    def on_table(table: str, count: int) -> None:
        rows[table] = count
        reporter.update({"rows": dict(rows)})

    started = time.perf_counter()
    ticker = asyncio.create_task(reporter.tick())
    try:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                         row_factory=dict_row) as conn:
            with open_input(str(path), limits) as lines:
                counts = await restore_database(conn, lines, progress=on_table)
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
