"""Typer commands for export and import: `mimir export PATH`, `mimir import mimir PATH`,
`mimir import files DIR`. Registered by mimir.cli; progress and summaries go to stderr
(standard output may carry the export itself)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> None:
    print(f"mimir: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _say(message: str) -> None:
    print(f"mimir: {message}", file=sys.stderr)


def _run(work: Callable[[str, Any], Awaitable[T]]) -> T:
    """Load settings, prepare the database, and run `work(conninfo, settings)` on it."""
    from mimir.config import ConfigError, load_settings
    from mimir.db.connection import DatabaseUnreachable
    from mimir.db.lifecycle import prepare_database
    from mimir.logging import configure_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc), 2)
    configure_logging(settings.log_level.value, stream=sys.stderr)
    try:
        database = prepare_database(settings)
    except DatabaseUnreachable as exc:
        _fail(str(exc))
    try:
        return asyncio.run(work(database.conninfo, settings))
    finally:
        database.close()


async def _connect(conninfo: str):
    import psycopg
    from psycopg.rows import dict_row

    return await psycopg.AsyncConnection.connect(conninfo, autocommit=True, row_factory=dict_row)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {table}" for table, n in counts.items())


def export_command(
    path: Annotated[str, typer.Argument(
        help="File to write (`.gz` compresses it); `-` for standard output.")],
) -> None:
    """Write everything (artifacts with all versions, spans, intents, groups, decisions,
    relations, provenance, embedding spaces and embeddings) to a mimir-export JSON Lines
    file (docs/export-format.md)."""
    from mimir.portability.export import export_database, open_output

    async def work(conninfo: str, settings: Any) -> dict[str, int]:
        async with await _connect(conninfo) as conn:
            with open_output(path) as out:
                return await export_database(conn, out)

    started = time.monotonic()
    try:
        counts = _run(work)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}", 2)
    _say(f"exported {_counts(counts)} in {time.monotonic() - started:.1f} s"
         + (f" to {path}" if path != "-" else ""))


def import_mimir_command(
    path: Annotated[str, typer.Argument(
        help="A mimir-export file (plain or gzip); `-` for standard input.")],
) -> None:
    """Restore a `mimir export` file into an empty database, with the same ids and
    timestamps, in one transaction: all of it or nothing."""
    from mimir.portability.restore import RestoreError, open_input, restore_database

    if path != "-" and not Path(path).is_file():
        _fail(f"{path} does not exist or is not a file", 2)

    async def work(conninfo: str, settings: Any) -> dict[str, int]:
        async with await _connect(conninfo) as conn:
            with open_input(path) as lines:
                return await restore_database(conn, lines)

    started = time.monotonic()
    try:
        counts = _run(work)
    except RestoreError as exc:
        _fail(f"nothing restored: {exc}")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", 2)
    _say(f"restored {_counts(counts)} in {time.monotonic() - started:.1f} s")


def import_files_command(
    directory: Annotated[Path, typer.Argument(
        help="Folder to import (recursively) .md, .markdown and .txt files from.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only report what would be created or updated.")] = False,
) -> None:
    """Import Markdown and text files as `document` artifacts (source `files`, external id
    = path relative to DIR, title and YAML front matter in metadata). Running again appends
    a version only for files whose content changed."""
    from mimir.portability.files import FilesReport, import_files

    if not directory.is_dir():
        _fail(f"{directory} is not a directory", 2)

    async def work(conninfo: str, settings: Any) -> FilesReport:
        async with await _connect(conninfo) as conn:
            return await import_files(conn, directory, max_chars=settings.max_content_chars,
                                      dry_run=dry_run)

    started = time.monotonic()
    report = _run(work)
    for relative, reason in report.skipped:
        _say(f"skipped {relative}: {reason}")
    verb = "would be " if dry_run else ""
    print(f"{'dry run: ' if dry_run else ''}{report.created} {verb}created, {report.updated} "
          f"{verb}updated, {report.unchanged} unchanged, {len(report.skipped)} skipped "
          f"in {time.monotonic() - started:.1f} s")
    if report.skipped:
        raise typer.Exit(3)
