"""`mimir import ...`: bring existing history in."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

import_app = typer.Typer(help="Import existing history (a ChatGPT export, ...).",
                         no_args_is_help=True, pretty_exceptions_enable=False,
                         add_completion=False)


def _fail(message: str, code: int = 1) -> None:
    print(f"mimir: {message}", file=sys.stderr)
    raise typer.Exit(code)


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
) -> None:
    """Import a ChatGPT data export: one `conversation` artifact per conversation (source
    `chatgpt_export`), its visible thread as a transcript with one span per message, and
    every other branch, hidden and tool message kept in the version metadata. Re-running
    writes nothing new; a conversation that grew gets a new version."""
    from mimir.config import ConfigError, load_settings
    from mimir.db.connection import DatabaseUnreachable
    from mimir.db.lifecycle import prepare_database
    from mimir.importers.chatgpt import import_chatgpt
    from mimir.logging import configure_logging

    if not path.exists():
        _fail(f"{path} does not exist", 2)
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc), 2)
    configure_logging(settings.log_level.value, stream=sys.stderr)
    # One "Deferred 1 job" line per imported version would drown the progress bar.
    logging.getLogger("procrastinate").setLevel(max(logging.WARNING, logging.root.level))
    try:
        database = prepare_database(settings)
    except DatabaseUnreachable as exc:
        _fail(str(exc))

    def report(message: str) -> None:
        print(f"mimir: {message}", file=sys.stderr)

    try:
        summary = asyncio.run(import_chatgpt(
            database.conninfo, path, dry_run=dry_run, progress=progress,
            max_chars=settings.max_content_chars, on_error=report))
    except (FileNotFoundError, IsADirectoryError) as exc:
        _fail(str(exc), 2)
    finally:
        database.close()
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
