"""`remember`: store a message, note or document as an artifact (idempotent on source +
external_id, the artifacts service's rule). A message becomes a conversation artifact
with one `message` span over its text, so it can be cited as evidence at once."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from mimir.artifacts.service import ArtifactCreate, create_artifact, get_version
from mimir.db.queries import queries
from mimir.mcp.citations import citation
from mimir.provenance.service import ProvenanceIn
from mimir.spans.service import SpanCreate, create_span

KINDS = {"message": "conversation", "note": "note", "document": "document"}


async def _message_span(conn: AsyncConnection, version: dict[str, Any]) -> dict[str, Any] | None:
    """The `message` span over the whole version, if it has one (a repeated remember)."""
    async for row in queries.search_hit_spans(conn, version_ids=[version["id"]]):
        if (row["span_type"] == "message" and row["start_offset"] == 0
                and row["end_offset"] == len(version["content"])):
            return row
    return None


async def remember(conn: AsyncConnection, data: ArtifactCreate, *, kind: str, max_chars: int,
                   provenance: ProvenanceIn) -> dict[str, Any]:
    artifact, created = await create_artifact(conn, data, max_chars=max_chars,
                                              provenance=provenance)
    version = await get_version(conn, artifact["id"], 1)
    span = None
    if kind == "message" and version["content"]:
        span = await _message_span(conn, version) if not created else None
        if span is None:
            span = await create_span(conn, SpanCreate(
                artifact_version_id=version["id"], start_offset=0,
                end_offset=len(version["content"]), span_type="message",
                metadata={k: data.version_metadata[k] for k in ("speaker", "time")
                          if k in data.version_metadata}), provenance=None)
    return {"created": created, "artifact_id": artifact["id"], "kind": artifact["artifact_type"],
            "title": artifact.get("title"), "source": artifact["source"],
            "external_id": artifact.get("external_id"), "metadata": artifact["metadata"],
            "created_at": artifact["created_at"],
            "citation": citation(version, span["start_offset"] if span else 0,
                                 span["end_offset"] if span else len(version["content"]), span)}
