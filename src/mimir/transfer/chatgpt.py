"""ChatGPT data export → conversation artifacts with one span per visible message.

The export's `conversations.json` (alone or inside the export .zip) is parsed as a stream
with ijson, one conversation at a time, so memory stays bounded by the largest conversation.

Per conversation:
- the artifact (kind `conversation`, source `chatgpt_export`, external_id = conversation id)
  holds a readable transcript of the visible thread: from `current_node` up to the root via
  `parent`, reversed; each rendered message is a block `[role] author/model:\\n<text>` and
  blocks are separated by a blank line;
- each rendered message gets a span (span_type `message`, label = role) over its block, with
  role, author, model, timestamps, content type and ids in the span metadata;
- nothing is thrown away: the version metadata `chatgpt` keeps the conversation's own fields,
  every node off the visible thread (`other_branches`: edited and regenerated branches, with
  their raw messages), the thread's messages not shown in the transcript (`hidden_messages`:
  empty system prompts, visually hidden context) and, for shown messages, whatever the
  transcript does not carry (`message_extras`: raw non-text content such as multimodal parts
  and browsing results, message metadata, status, recipient, ...). When that would exceed the
  metadata limit, the whole raw conversation JSON is stored instead as a `note` artifact with
  external_id `<conversation id>#raw`, and the version metadata points to it.

Re-importing: an unchanged transcript writes nothing; a changed one appends a version with
its own spans. Each conversation is written in its own transaction; a malformed one is
reported and skipped.
"""

from __future__ import annotations

import inspect
import io
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson
import orjson
from pydantic import ValidationError

from mimir.artifacts.service import (
    ArtifactCreate,
    ArtifactKind,
    VersionAppend,
    append_version,
    content_hash,
    create_artifact,
)
from mimir.errors import PayloadTooLarge
from mimir.namespaces import context as namespace_context
from mimir.provenance.service import ProvenanceIn
from mimir.spans.service import SpanCreate, create_span
from mimir.transfer.guard import GuardedStream, JsonLimits, LimitExceeded
from mimir.validation import MAX_METADATA_BYTES

SOURCE = "chatgpt_export"
PIPELINE = "mimir-import-chatgpt@1"
RAW_SUFFIX = "#raw"
DEFAULT_MAX_CHARS = 2_000_000
PROGRESS_EVERY = 25  # conversations between two `on_progress` calls
# Leave room for the rest of the version metadata under the 64 KB limit.
METADATA_BUDGET = MAX_METADATA_BYTES - 2048
LABEL_MAX = 500
TEXT_CONTENT_TYPES = {"text", "code"}
READ_BYTES = 1024 * 1024


class MalformedConversation(ValueError):
    """A conversation whose structure cannot be read (reported and skipped)."""


@dataclass
class RenderedMessage:
    node_id: str
    message: dict[str, Any]
    start: int
    end: int
    metadata: dict[str, Any]


@dataclass
class ParsedConversation:
    id: str
    title: str | None
    transcript: str
    messages: list[RenderedMessage]
    artifact_metadata: dict[str, Any]
    version_metadata: dict[str, Any]
    raw_json: str | None  # set when the details overflow into a `#raw` note


@dataclass
class ImportSummary:
    conversations_seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    messages: int = 0
    spans: int = 0
    raw_notes: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)
    fatal: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# ---------------------------------------------------------------------------------------
# Reading the export


@contextmanager
def open_conversations(path: Path, limits: JsonLimits | None = None) -> Iterator[IO[bytes]]:
    """A binary stream of conversations.json: the file itself, or the member of a zip,
    checked against `limits` (nesting depth, value length, size, zip expansion) as it is
    read. Error messages name no server path."""
    limits = limits or JsonLimits()
    path = Path(path)
    if path.is_dir():
        path = path / "conversations.json"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist()
                       if m.filename.rsplit("/", 1)[-1] == "conversations.json"]
            if not members:
                raise FileNotFoundError("the zip holds no conversations.json")
            member = min(members, key=lambda m: len(m.filename))
            # What the archive declares is checked before reading; what it really holds
            # is checked while reading (declared sizes can lie).
            limits.check_total(member.file_size, member.compress_size)
            with archive.open(member) as raw:
                yield GuardedStream(raw, limits, compressed_bytes=member.compress_size)
    else:
        with open(path, "rb") as raw:
            yield GuardedStream(raw, limits)


def iter_conversations(stream: IO[bytes]) -> Iterator[Any]:
    """Each element of the top-level JSON array, one at a time. Reads are large: yajl
    re-scans a token split across reads, so small reads make long values quadratic."""
    yield from ijson.items(stream, "item", use_float=True, buf_size=READ_BYTES)


# ---------------------------------------------------------------------------------------
# Rendering


def _clean(value: Any) -> Any:
    """Replace NUL characters (rejected by the database) with U+FFFD, recursively."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _compact(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _render_part(part: Any) -> str:
    if part is None:
        return ""
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        kind = part.get("content_type")
        if kind == "image_asset_pointer":
            return f"[image: {part.get('asset_pointer', '?')}]"
        if kind == "audio_asset_pointer":
            return f"[audio: {part.get('asset_pointer', '?')}]"
        if kind == "video_container_asset_pointer":
            return f"[video: {part.get('asset_pointer', '?')}]"
        if kind == "audio_transcription" and isinstance(part.get("text"), str):
            return part["text"]
        if isinstance(part.get("text"), str) and len(part) <= 2:
            return part["text"]
    return _compact(part)


def _parts(content: dict[str, Any]) -> str:
    parts = content.get("parts")
    if not isinstance(parts, list):
        return ""
    return "\n".join(t for t in (_render_part(p) for p in parts) if t)


def render_content(content: Any) -> str:
    """The readable text of one message's content, by content type."""
    if not isinstance(content, dict):
        return "" if content is None else _render_part(content)
    kind = content.get("content_type")
    text = content.get("text")
    if kind in ("text", "multimodal_text"):
        return _parts(content)
    if kind == "code":
        language = content.get("language")
        language = "" if language in (None, "unknown") else language
        return f"```{language}\n{text or ''}\n```"
    if kind == "execution_output":
        return f"Output:\n```\n{text or ''}\n```"
    if kind == "tether_browsing_display":
        pieces = [content.get("summary"), content.get("result")]
        return "\n".join(p for p in pieces if isinstance(p, str) and p.strip())
    if kind == "tether_quote":
        title = content.get("title") or content.get("domain") or ""
        url = content.get("url") or ""
        head = f"Quote from {title} <{url}>:" if url else f"Quote from {title}:"
        return f"{head}\n{text or ''}"
    if kind == "thoughts":
        out = []
        for thought in content.get("thoughts") or []:
            if isinstance(thought, dict):
                summary, body = thought.get("summary"), thought.get("content")
                out.append("\n".join(x for x in (summary and f"**{summary}**", body)
                                     if isinstance(x, str) and x))
            else:
                out.append(_render_part(thought))
        return "\n\n".join(o for o in out if o)
    if kind == "reasoning_recap":
        recap = content.get("content")
        return recap if isinstance(recap, str) else _compact(recap)
    if kind == "user_editable_context":
        pieces = []
        for key, label in (("user_profile", "User profile"),
                           ("user_instructions", "User instructions")):
            if isinstance(content.get(key), str) and content[key].strip():
                pieces.append(f"{label}:\n{content[key]}")
        return "\n\n".join(pieces)
    if kind == "system_error":
        return f"Error {content.get('name') or ''}: {text or ''}".strip()
    if isinstance(text, str) and set(content) <= {"content_type", "text"}:
        return text
    if "parts" in content and set(content) <= {"content_type", "parts"}:
        return _parts(content)
    return _compact({k: v for k, v in content.items() if k != "content_type"})


def _model_slug(message: dict[str, Any]) -> str | None:
    meta = message.get("metadata")
    if isinstance(meta, dict):
        slug = meta.get("model_slug") or meta.get("default_model_slug")
        if isinstance(slug, str):
            return slug
    return None


def _header(message: dict[str, Any], content_type: str | None) -> tuple[str, str, str | None]:
    author = message.get("author") if isinstance(message.get("author"), dict) else {}
    role = author.get("role") if isinstance(author.get("role"), str) else "unknown"
    name = author.get("name") if isinstance(author.get("name"), str) else None
    slug = _model_slug(message) if role == "assistant" else None
    who = "/".join(x for x in (name, slug) if x)
    header = f"[{role}]" + (f" {who}" if who else "")
    if content_type and content_type not in ("text", "multimodal_text"):
        header += f" ({content_type})"
    return header + ":", role, name


def _node_record(node_id: str, node: Any) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {"id": node_id, "raw": node}
    return {"id": node.get("id", node_id), "parent": node.get("parent"),
            "children": node.get("children"), "message": node.get("message")}


def _visible_path(mapping: dict[str, Any], current: Any) -> list[str]:
    """Node ids from the root down to `current_node`."""
    if current is None:
        # Old exports may lack current_node: follow the last child from the root.
        roots = [k for k, n in mapping.items()
                 if isinstance(n, dict) and not n.get("parent")]
        if len(roots) != 1:
            raise MalformedConversation("no current_node and no single root node")
        current = roots[0]
        while True:
            children = mapping[current].get("children") or []
            children = [c for c in children if c in mapping]
            if not children:
                break
            current = children[-1]
    if current not in mapping:
        raise MalformedConversation(f"current_node {current!r} is not in the mapping")
    path, seen = [], set()
    node_id = current
    while node_id is not None:
        if node_id in seen:
            raise MalformedConversation(f"the parent chain loops at node {node_id!r}")
        seen.add(node_id)
        node = mapping.get(node_id)
        if not isinstance(node, dict):
            raise MalformedConversation(f"node {node_id!r} is missing from the mapping")
        path.append(node_id)
        node_id = node.get("parent")
    path.reverse()
    return path


def _is_hidden(message: dict[str, Any], body: str) -> bool:
    meta = message.get("metadata")
    if isinstance(meta, dict) and meta.get("is_visually_hidden_from_conversation"):
        return True
    return not body.strip()


_SPAN_KEYS = {"id", "author", "create_time", "update_time", "content"}


def parse_conversation(raw: Any) -> ParsedConversation:
    """Transcript, spans and kept details of one conversation; MalformedConversation if
    its structure cannot be read."""
    if not isinstance(raw, dict):
        raise MalformedConversation(f"expected a JSON object, got {type(raw).__name__}")
    raw = _clean(raw)
    conv_id = raw.get("id") or raw.get("conversation_id")
    if not isinstance(conv_id, str) or not conv_id.strip():
        raise MalformedConversation("the conversation has no id")
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict):
        raise MalformedConversation(f"conversation {conv_id}: `mapping` is not an object")
    try:
        path = _visible_path(mapping, raw.get("current_node"))
    except MalformedConversation as exc:
        raise MalformedConversation(f"conversation {conv_id}: {exc}") from None
    on_path = set(path)

    chunks: list[str] = []
    offset = 0
    rendered: list[RenderedMessage] = []
    hidden: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    last_slug = None
    for node_id in path:
        node = mapping[node_id]
        message = node.get("message")
        if message is None:
            continue
        if not isinstance(message, dict):
            raise MalformedConversation(f"conversation {conv_id}: node {node_id} has a "
                                        f"message that is not an object")
        content = message.get("content")
        content_type = content.get("content_type") if isinstance(content, dict) else None
        body = render_content(content)
        if _is_hidden(message, body):
            hidden.append(_node_record(node_id, node))
            continue
        header, role, name = _header(message, content_type)
        block = f"{header}\n{body}"
        if chunks:
            chunks.append("\n\n")
            offset += 2
        start = offset
        chunks.append(block)
        offset += len(block)
        slug = _model_slug(message)
        last_slug = slug or last_slug
        span_meta = {"role": role, "author_name": name, "model_slug": slug,
                     "create_time": message.get("create_time"),
                     "update_time": message.get("update_time"),
                     "content_type": content_type, "message_id": message.get("id"),
                     "node_id": node_id}
        rendered.append(RenderedMessage(node_id, message, start, offset, span_meta))
        extra = {k: v for k, v in message.items()
                 if k not in _SPAN_KEYS and v not in (None, {}, [])}
        if content_type not in TEXT_CONTENT_TYPES:
            extra["content"] = content
        author = message.get("author")
        if isinstance(author, dict) and author.get("metadata"):
            extra["author_metadata"] = author["metadata"]
        if extra:
            extras.append({"message_id": message.get("id"), **extra})

    others = [_node_record(k, n) for k, n in mapping.items() if k not in on_path]
    conversation = {k: v for k, v in raw.items() if k not in ("mapping", "title")}
    model = raw.get("default_model_slug") or last_slug
    title = raw.get("title") if isinstance(raw.get("title"), str) else None
    title = title.strip()[:LABEL_MAX] if title and title.strip() else None
    details = {"conversation": conversation, "other_branches": others,
               "hidden_messages": hidden, "message_extras": extras}
    raw_json = None
    if len(orjson.dumps(details, default=str)) > METADATA_BUDGET:
        raw_json = orjson.dumps(raw, default=str, option=orjson.OPT_INDENT_2).decode()
        small = {k: v for k, v in conversation.items()
                 if isinstance(v, (str, int, float, bool)) or v is None}
        details = {"conversation": small, "other_branches_count": len(others),
                   "hidden_messages_count": len(hidden), "message_extras_count": len(extras),
                   "raw_artifact": {"source": SOURCE, "external_id": conv_id + RAW_SUFFIX}}
    artifact_metadata = {"chatgpt": {"conversation_id": conv_id,
                                     "create_time": raw.get("create_time"),
                                     "update_time": raw.get("update_time"),
                                     "model_slug": model}}
    version_metadata = {"chatgpt": {"create_time": raw.get("create_time"),
                                    "update_time": raw.get("update_time"),
                                    "model_slug": model, **details}}
    return ParsedConversation(conv_id, title, "".join(chunks), rendered, artifact_metadata,
                              version_metadata, raw_json)


# ---------------------------------------------------------------------------------------
# Writing


async def _existing_hash(conn: Any, external_id: str) -> tuple[uuid.UUID | None, str | None]:
    from mimir.db.queries import queries

    artifact = await queries.artifacts_get_by_external_id(conn, source=SOURCE, external_id=external_id)
    if artifact is None:
        return None, None
    latest = await queries.artifacts_get_latest_version(conn, artifact_id=artifact["id"])
    return artifact["id"], (latest["content_hash"] if latest else None)


async def _upsert(conn: Any, *, kind: ArtifactKind, external_id: str, title: str | None,
                  content: str, artifact_metadata: dict[str, Any],
                  version_metadata: dict[str, Any], max_chars: int
                  ) -> tuple[str, uuid.UUID | None]:
    """Create the artifact, or append a version if its content changed.
    Returns (outcome, id of a newly written version or None)."""
    provenance = ProvenanceIn(pipeline_version=PIPELINE)
    artifact_id, digest = await _existing_hash(conn, external_id)
    if artifact_id is None:
        artifact, created = await create_artifact(
            conn, ArtifactCreate(artifact_type=kind, content=content, title=title, source=SOURCE,
                                 external_id=external_id, metadata=artifact_metadata,
                                 version_metadata=version_metadata),
            max_chars=max_chars, provenance=provenance)
        if created:
            return "created", artifact["versions"][0]["id"]
        artifact_id = artifact["id"]  # created concurrently by someone else
    elif digest == content_hash(content):
        return "unchanged", None
    version, created = await append_version(
        conn, artifact_id, VersionAppend(content=content, metadata=version_metadata),
        max_chars=max_chars, provenance=provenance)
    return ("updated", version["id"]) if created else ("unchanged", None)


async def _write(conn: Any, parsed: ParsedConversation, max_chars: int) -> tuple[str, int, bool]:
    """One conversation in one transaction; returns (outcome, spans written, raw note written)."""
    async with conn.transaction():
        outcome, version_id = await _upsert(
            conn, kind=ArtifactKind.CONVERSATION, external_id=parsed.id, title=parsed.title,
            content=parsed.transcript, artifact_metadata=parsed.artifact_metadata,
            version_metadata=parsed.version_metadata, max_chars=max_chars)
        spans = 0
        if version_id is not None:
            for message in parsed.messages:
                await create_span(conn, SpanCreate(
                    artifact_version_id=version_id, start_offset=message.start, end_offset=message.end,
                    span_type="message", label=message.metadata["role"][:LABEL_MAX],
                    metadata=message.metadata))
                spans += 1
        raw_written = False
        if parsed.raw_json is not None:
            raw_outcome, _ = await _upsert(
                conn, kind=ArtifactKind.NOTE, external_id=parsed.id + RAW_SUFFIX,
                title=f"Raw ChatGPT export: {parsed.title or parsed.id}"[:LABEL_MAX],
                content=parsed.raw_json, artifact_metadata={"chatgpt": {
                    "conversation_id": parsed.id, "raw_of": parsed.id}},
                version_metadata={}, max_chars=max(max_chars, len(parsed.raw_json)))
            raw_written = raw_outcome != "unchanged"
    return outcome, spans, raw_written


async def import_chatgpt(conninfo: str | None, path: Path, *, dry_run: bool = False,
                         progress: bool = False, max_chars: int = DEFAULT_MAX_CHARS,
                         on_error: Callable[[str], None] | None = None,
                         on_progress: Callable[[dict[str, Any]], Awaitable[None] | None]
                         | None = None,
                         progress_every: int = PROGRESS_EVERY,
                         limits: JsonLimits | None = None,
                         namespace: str = namespace_context.DEFAULT,
                         app_role: bool = True) -> ImportSummary:
    """Import a ChatGPT export (zip, conversations.json, or the export's folder).

    With `dry_run`, nothing is written: each conversation is parsed and, when `conninfo` is
    given, compared (read-only) with what is stored, to report what would be created or
    updated. One malformed conversation is reported in `errors` and skipped; a JSON syntax
    error ends the run (`fatal`) after the conversations before it were imported.

    `on_progress` (a plain or async function) gets the running counts (`progress_counts`)
    every `progress_every` conversations and once at the end. Data over `limits` ends the
    run like a syntax error (`fatal`); an archive that declares too much raises
    LimitExceeded before anything is read.

    Everything is read and written in `namespace`, as the app role (row-level security),
    and the indexing jobs it queues run there too.
    """
    with namespace_context.use(namespace):
        return await _import(conninfo, path, dry_run=dry_run, progress=progress,
                             max_chars=max_chars, on_error=on_error, on_progress=on_progress,
                             progress_every=progress_every, limits=limits, app_role=app_role)


async def _import(conninfo: str | None, path: Path, *, dry_run: bool, progress: bool,
                  max_chars: int, on_error: Callable[[str], None] | None,
                  on_progress: Callable[[dict[str, Any]], Awaitable[None] | None] | None,
                  progress_every: int, limits: JsonLimits | None,
                  app_role: bool) -> ImportSummary:
    from mimir.db.session import connect_app

    summary = ImportSummary(dry_run=dry_run)
    started = time.perf_counter()
    conn = await connect_app(conninfo, namespace_context.current(),
                             app_role=app_role) if conninfo else None
    bar = _Progress(path) if progress else None
    try:
        with open_conversations(path, limits) as stream:
            if bar:
                bar.start(stream)
            try:
                for index, raw in enumerate(iter_conversations(stream)):
                    summary.conversations_seen += 1
                    await _one(conn, raw, index, summary, dry_run, max_chars, on_error)
                    if bar:
                        bar.update(summary)
                    if on_progress and summary.conversations_seen % max(progress_every, 1) == 0:
                        await _report(on_progress, summary, stream)
            except ijson.JSONError as exc:
                summary.fatal = (f"the file is not valid JSON after {summary.conversations_seen} "
                                 f"conversations: {exc}")
            except LimitExceeded as exc:
                summary.fatal = (f"refused after {summary.conversations_seen} conversations: "
                                 f"{exc}")
            if on_progress:
                await _report(on_progress, summary, stream)
    finally:
        if bar:
            bar.stop()
        if conn is not None:
            await conn.close()
    summary.seconds = time.perf_counter() - started
    return summary


def progress_counts(summary: ImportSummary, stream: IO[bytes] | None = None
                    ) -> dict[str, Any]:
    """The running counts of an import, and how far into the (uncompressed) JSON it is."""
    counts: dict[str, Any] = {name: getattr(summary, name) for name in (
        "conversations_seen", "created", "updated", "unchanged", "skipped", "messages",
        "spans", "raw_notes")}
    try:
        counts["bytes_read"] = stream.tell() if stream is not None else None
    except (OSError, AttributeError, ValueError):
        counts["bytes_read"] = None
    return counts


async def _report(on_progress: Callable[[dict[str, Any]], Awaitable[None] | None],
                  summary: ImportSummary, stream: IO[bytes]) -> None:
    result = on_progress(progress_counts(summary, stream))
    if inspect.isawaitable(result):
        await result


async def _one(conn: Any, raw: Any, index: int, summary: ImportSummary, dry_run: bool,
               max_chars: int, on_error: Callable[[str], None] | None) -> None:
    label = raw.get("id") if isinstance(raw, dict) else None
    where = f"conversation #{index + 1}" + (f" ({label})" if label else "")
    try:
        parsed = parse_conversation(raw)
        if len(parsed.transcript) > max_chars:
            raise PayloadTooLarge(f"transcript has {len(parsed.transcript)} characters; "
                                  f"the maximum is {max_chars}")
        if dry_run:
            outcome, spans = "created", len(parsed.messages)
            if conn is not None:
                artifact_id, digest = await _existing_hash(conn, parsed.id)
                if artifact_id is not None:
                    same = digest == content_hash(parsed.transcript)
                    outcome, spans = ("unchanged", 0) if same else ("updated", spans)
            raw_written = parsed.raw_json is not None and outcome != "unchanged"
        else:
            outcome, spans, raw_written = await _write(conn, parsed, max_chars)
    except (MalformedConversation, ValidationError, PayloadTooLarge) as exc:
        summary.skipped += 1
        message = f"{where}: skipped: {_first_line(exc)}"
        summary.errors.append(message)
        if on_error:
            on_error(message)
        return
    except Exception as exc:  # a database rule we did not foresee: skip, keep going
        if type(exc).__module__.startswith("psycopg.errors") or hasattr(exc, "status_code"):
            summary.skipped += 1
            message = f"{where}: skipped: {type(exc).__name__}: {_first_line(exc)}"
            summary.errors.append(message)
            if on_error:
                on_error(message)
            return
        raise
    setattr(summary, outcome, getattr(summary, outcome) + 1)
    summary.messages += len(parsed.messages)
    summary.spans += spans
    summary.raw_notes += int(raw_written)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


class _Progress:
    """A rich progress bar over the bytes read, with conversation and message counts."""

    def __init__(self, path: Path) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("[bold]importing[/bold]"), BarColumn(),
                                 TextColumn("{task.percentage:>3.0f}%"),
                                 TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                                 transient=False)
        self.stream: Any = None
        self.task = None

    def start(self, stream: IO[bytes]) -> None:
        self.stream = stream
        total = None
        try:
            if isinstance(stream, io.BufferedReader):
                total = Path(stream.name).stat().st_size
            elif hasattr(stream, "_orig_file_size"):
                total = stream._orig_file_size
        except (OSError, AttributeError, TypeError):
            total = None
        self.progress.start()
        self.task = self.progress.add_task("import", total=total, counts="")

    def update(self, summary: ImportSummary) -> None:
        position = None
        try:
            position = self.stream.tell()
        except (OSError, AttributeError, ValueError):
            pass
        self.progress.update(self.task, completed=position,
                             counts=f"{summary.conversations_seen} conversations, "
                                    f"{summary.messages} messages")

    def stop(self) -> None:
        self.progress.stop()
