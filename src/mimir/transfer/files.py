"""`mimir import files DIR`: Markdown and text files as `document` artifacts.

Each `.md`, `.markdown` or `.txt` file under DIR (recursively; hidden files and folders are
skipped) becomes an artifact with source `files` and external_id its POSIX path relative to
DIR. The content is the file's full text (front matter included, so the file can be got back
exactly); the title is the front matter's `title`, else the first `# heading`, else the file
name; the YAML front matter goes into the artifact's and each version's metadata. Running
again appends a version only to files whose content changed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from psycopg import AsyncConnection
from pydantic import ValidationError

from mimir.artifacts.service import (
    ArtifactCreate,
    ArtifactKind,
    VersionAppend,
    append_version,
    content_hash,
    create_artifact,
)
from mimir.db.queries import queries
from mimir.errors import PayloadTooLarge
from mimir.provenance.service import ProvenanceIn

SOURCE = "files"
SUFFIXES = frozenset({".md", ".markdown", ".txt"})
PIPELINE = "mimir import files"
MAX_TITLE = 500
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)",
                           re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@dataclass
class FilesReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


@dataclass
class ParsedFile:
    content: str
    title: str
    front_matter: dict[str, Any] | None


def find_files(directory: Path) -> Iterator[Path]:
    """The importable files under `directory`, in path order, hidden ones left out."""
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            yield path


def _json_safe(value: Any) -> Any:
    """Front matter as JSON: dates become ISO strings, other odd scalars strings."""
    return orjson.loads(orjson.dumps(value, default=lambda v: v.isoformat()
                                     if isinstance(v, (date, datetime)) else str(v),
                                     option=orjson.OPT_NON_STR_KEYS))


def parse_file(text: str, name: str) -> ParsedFile:
    """Split off the YAML front matter (if any) and pick a title."""
    front_matter = None
    body = text
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict):
            front_matter = _json_safe(loaded)
            body = text[match.end():]
    title = None
    if front_matter and isinstance(front_matter.get("title"), (str, int, float)):
        title = str(front_matter["title"]).strip() or None
    if title is None and (heading := _HEADING.search(body)):
        title = heading.group(1).strip() or None
    return ParsedFile(content=text, title=(title or name)[:MAX_TITLE], front_matter=front_matter)


async def import_files(conn: AsyncConnection, directory: Path, *, max_chars: int,
                       dry_run: bool = False,
                       progress: Callable[[str, str], None] | None = None) -> FilesReport:
    """Import every file under `directory`; `dry_run` only reports what would change.
    `progress(path, outcome)` is called per file (created/updated/unchanged/skipped)."""
    report = FilesReport()
    provenance = ProvenanceIn(pipeline_version=PIPELINE)
    for path in find_files(directory):
        relative = path.relative_to(directory).as_posix()
        outcome = await _import_one(conn, path, relative, max_chars=max_chars,
                                    dry_run=dry_run, provenance=provenance, report=report)
        if progress:
            progress(relative, outcome)
    return report


async def _import_one(conn: AsyncConnection, path: Path, relative: str, *, max_chars: int,
                      dry_run: bool, provenance: ProvenanceIn, report: FilesReport) -> str:
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.skipped.append((relative, f"cannot read it as UTF-8 text: {exc}"))
        return "skipped"
    if "\x00" in text:
        report.skipped.append((relative, "contains NUL characters"))
        return "skipped"
    if len(text) > max_chars:
        reason = f"has {len(text)} characters; the maximum is {max_chars}"
        report.skipped.append((relative, reason + " (MIMIR_MAX_CONTENT_CHARS)"))
        return "skipped"
    parsed = parse_file(text, path.name)
    metadata: dict[str, Any] = {"path": relative}
    if parsed.front_matter is not None:
        metadata["front_matter"] = parsed.front_matter
    existing = await queries.artifacts_get_by_external_id(conn, source=SOURCE, external_id=relative)
    try:
        if existing is None:
            if not dry_run:
                await create_artifact(conn, ArtifactCreate(
                    kind=ArtifactKind.DOCUMENT, content=parsed.content, title=parsed.title,
                    source=SOURCE, external_id=relative, metadata=metadata,
                    version_metadata=metadata), max_chars=max_chars, provenance=provenance)
            report.created += 1
            return "created"
        if dry_run:
            latest = await queries.artifacts_get_latest_version(conn, artifact_id=existing["id"])
            changed = latest is None or latest["content_hash"] != content_hash(parsed.content)
        else:
            _, changed = await append_version(
                conn, existing["id"], VersionAppend(content=parsed.content, metadata=metadata),
                max_chars=max_chars, provenance=provenance)
    except (PayloadTooLarge, ValidationError) as exc:
        report.skipped.append((relative, str(exc).splitlines()[0]))
        return "skipped"
    if changed:
        report.updated += 1
        return "updated"
    report.unchanged += 1
    return "unchanged"
