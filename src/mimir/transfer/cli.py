"""The command-line entry points of transfer: `mimir export PATH` and the `mimir import`
group (`chatgpt PATH`, `mimir PATH`, `files DIR`). `import_app` and `export_command` are
registered by mimir.cli; progress and summaries go to stderr (standard output may carry the
export itself)."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")

import_app = typer.Typer(help="Import existing history (a ChatGPT export, ...).",
                         no_args_is_help=True, pretty_exceptions_enable=False,
                         add_completion=False)


def _fail(message: str, code: int = 1) -> None:
    print(f"mimir: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _say(message: str) -> None:
    print(f"mimir: {message}", file=sys.stderr)


def _run(work: Callable[[str, Any], Awaitable[T]], *, quiet_jobs: bool = False) -> T:
    """Load settings, prepare the database, and run `work(conninfo, settings)` on it.
    `quiet_jobs` keeps the job queue's per-job log lines (below WARNING) off stderr."""
    from mimir.config import ConfigError, load_settings
    from mimir.db.connection import DatabaseUnreachable
    from mimir.db.lifecycle import prepare_database
    from mimir.logging import configure_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc), 2)
    configure_logging(settings.log_level.value, stream=sys.stderr)
    if quiet_jobs:
        logging.getLogger("procrastinate").setLevel(max(logging.WARNING, logging.root.level))
    try:
        database = prepare_database(settings)
    except DatabaseUnreachable as exc:
        _fail(str(exc))
    try:
        return asyncio.run(work(database.conninfo, settings))
    finally:
        database.close()


async def _connect(conninfo: str, namespace: str, settings: Any):
    """A connection as the app role in `namespace` (row-level security: only its rows)."""
    from mimir.db.session import connect_app

    return await connect_app(conninfo, namespace, app_role=settings.db_app_role)


def _namespace_option(verb: str):
    return typer.Option("--namespace", help=f"The namespace to {verb} (default: default).")


def _checked(namespace: str) -> str:
    from mimir.namespaces.context import NAME, NAME_RULE

    if NAME.fullmatch(namespace) is None:
        _fail(f"--namespace must be {NAME_RULE}", 2)
    return namespace


def _counts(counts: dict[str, int]) -> str:
    # Erasure records (format version 3) are named only when there are some.
    return ", ".join(f"{n} {table}" for table, n in counts.items() if n or table != "erasures")


@import_app.callback()
def _group() -> None:
    """Import existing history."""


@import_app.command("chatgpt")
def chatgpt(
    path: Annotated[Path, typer.Argument(
        help="The export's .zip, its conversations.json, or the unpacked export folder.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Parse and report what would be created; write nothing.")] = False,
    progress: Annotated[bool, typer.Option(
        "--progress/--no-progress", help="Show a progress bar (default: on a terminal).")
    ] = sys.stderr.isatty(),
    namespace: Annotated[str, _namespace_option("import into")] = "default",
) -> None:
    """Import a ChatGPT data export: one `conversation` artifact per conversation (source
    `chatgpt_export`), its visible thread as a transcript with one span per message, and
    every other branch, hidden and tool message kept in the version metadata. Re-running
    writes nothing new; a conversation that grew gets a new version."""
    from mimir.transfer.chatgpt import import_chatgpt

    if not path.exists():
        _fail(f"{path} does not exist", 2)

    async def work(conninfo: str, settings: Any):
        return await import_chatgpt(conninfo, path, dry_run=dry_run, progress=progress,
                                    max_chars=settings.max_content_chars, on_error=_say,
                                    namespace=_checked(namespace),
                                    app_role=settings.db_app_role)

    try:
        # One "Deferred 1 job" line per imported version would drown the progress bar.
        summary = _run(work, quiet_jobs=True)
    except (FileNotFoundError, IsADirectoryError) as exc:
        _fail(str(exc), 2)
    verb = "would be " if dry_run else ""
    print(f"{'dry run: ' if dry_run else ''}{summary.conversations_seen} conversations read in "
          f"{summary.seconds:.1f} s: {summary.created} {verb}created, {summary.updated} "
          f"{verb}updated, {summary.unchanged} unchanged, {summary.skipped} skipped; "
          f"{summary.messages} messages, {summary.spans} spans {verb}written"
          + (f", {summary.raw_notes} raw notes" if summary.raw_notes else ""))
    if summary.fatal:
        _fail(summary.fatal)
    if summary.skipped:
        raise typer.Exit(3)


def export_command(
    path: Annotated[str, typer.Argument(
        help="File to write (`.gz` compresses it); `-` for standard output.")],
    namespace: Annotated[str, _namespace_option("export")] = "default",
) -> None:
    """Write everything of one namespace (artifacts with all versions, spans, intents,
    groups, decisions, relations, provenance, embeddings, and the embedding spaces, which
    all namespaces share) to a mimir-export JSON Lines file (docs/export-format.md)."""
    from mimir.transfer.export import export_database, open_output

    _checked(namespace)

    async def work(conninfo: str, settings: Any) -> dict[str, int]:
        async with await _connect(conninfo, namespace, settings) as conn:
            with open_output(path) as out:
                return await export_database(conn, out)

    started = time.monotonic()
    try:
        counts = _run(work)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}", 2)
    _say(f"exported {_counts(counts)} in {time.monotonic() - started:.1f} s"
         + (f" to {path}" if path != "-" else ""))


@import_app.command("mimir")
def import_mimir_command(
    path: Annotated[str, typer.Argument(
        help="A mimir-export file (plain or gzip); `-` for standard input.")],
    namespace: Annotated[str, _namespace_option("restore into")] = "default",
) -> None:
    """Restore a `mimir export` file into an empty namespace, with the same ids and
    timestamps, in one transaction: all of it or nothing. Ids are unique across the
    database, so one export goes into one namespace (a second restore is refused)."""
    from mimir.transfer.restore import RestoreError, open_input, restore_namespace

    if path != "-" and not Path(path).is_file():
        _fail(f"{path} does not exist or is not a file", 2)
    _checked(namespace)

    async def work(conninfo: str, settings: Any) -> dict[str, int]:
        with open_input(path) as lines:
            return await restore_namespace(conninfo, namespace, lines,
                                           app_role=settings.db_app_role)

    started = time.monotonic()
    try:
        counts = _run(work)
    except RestoreError as exc:
        _fail(f"nothing restored: {exc}")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", 2)
    _say(f"restored {_counts(counts)} in {time.monotonic() - started:.1f} s")


@import_app.command("files")
def import_files_command(
    directory: Annotated[Path, typer.Argument(
        help="Folder to import (recursively) .md, .markdown and .txt files from.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only report what would be created or updated.")] = False,
    namespace: Annotated[str, _namespace_option("import into")] = "default",
) -> None:
    """Import Markdown and text files as `document` artifacts (source `files`, external id
    = path relative to DIR, title and YAML front matter in metadata). Running again appends
    a version only for files whose content changed."""
    from mimir.transfer.files import FilesReport, import_files

    if not directory.is_dir():
        _fail(f"{directory} is not a directory", 2)

    from mimir.namespaces import context as namespace_context

    _checked(namespace)

    async def work(conninfo: str, settings: Any) -> FilesReport:
        with namespace_context.use(namespace):
            async with await _connect(conninfo, namespace, settings) as conn:
                return await import_files(conn, directory,
                                          max_chars=settings.max_content_chars,
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
