"""Citations: the exact text of a version range with everything needed to check it (the
artifact, the version, code-point offsets, the version's content hash)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from mimir.artifacts.service import content_hash, get_version
from mimir.db.queries import queries
from mimir.decisions.service import get_decision
from mimir.entities import EntityType
from mimir.errors import NotFound
from mimir.intents.service import get_intent
from mimir.provenance.service import provenance_for
from mimir.spans.service import check_offsets, get_span

# A version hit without a passage is cited as this many characters around its first match.
CONTEXT_CHARS = 200
HEAD_CHARS = 400


async def version_by_id(conn: AsyncConnection, version_id: uuid.UUID) -> dict[str, Any]:
    """One version with its content, found by its id."""
    found = await queries.spans_get_version_by_id(conn, artifact_version_id=version_id)
    if found is None:
        raise NotFound(f"artifact version {version_id} does not exist",
                       details={"version_id": str(version_id)})
    return await get_version(conn, found["artifact_id"], found["version_number"])


def citation(version: dict[str, Any], start: int, end: int,
             span: dict[str, Any] | None = None) -> dict[str, Any]:
    """The quoted text of [start, end) of a version, with where it is and how to check it."""
    return {
        "quote": version["content"][start:end],
        "artifact_id": version["artifact_id"],
        "version_id": version["id"],
        "version_number": version["version_number"],
        "start_offset": start,
        "end_offset": end,
        "span_id": span["id"] if span else None,
        "span_type": span.get("span_type") if span else None,
        "content_hash": version["content_hash"],
        "quote_sha256": content_hash(version["content"][start:end]),
        "version_created_at": version["created_at"],
    }


async def quote_span(conn: AsyncConnection, span_id: uuid.UUID) -> dict[str, Any]:
    span = await get_span(conn, span_id)
    version = await get_version(conn, span["artifact_id"], span["version_number"])
    return citation(version, span["start_offset"], span["end_offset"], span)


async def quote_range(conn: AsyncConnection, version_id: uuid.UUID, start: int | None,
                      end: int | None) -> dict[str, Any]:
    version = await version_by_id(conn, version_id)
    length = len(version["content"])
    start = 0 if start is None else start
    end = length if end is None else end
    check_offsets(start, end, length)
    return citation(version, start, end)


def _window(hit: dict[str, Any], length: int) -> tuple[int, int]:
    """What to cite of a version hit that has no passage: around its first match in the
    content, else its beginning."""
    starts = [m for m in hit.get("matches") or [] if m["field"] == "content"]
    if not starts:
        return 0, min(length, HEAD_CHARS)
    first = starts[0]
    return max(0, first["start_offset"] - CONTEXT_CHARS), min(length, first["end_offset"] + CONTEXT_CHARS)


async def evidence_of(conn: AsyncConnection, entity_type: EntityType,
                    entity_id: uuid.UUID) -> list[dict[str, Any]]:
    """Provenance records of a derived entity, each with its evidence spans quoted."""
    records = []
    for record in await provenance_for(conn, entity_type, entity_id):
        evidence = []
        for span_id in record.get("evidence_span_ids") or []:
            try:
                evidence.append(await quote_span(conn, span_id))
            except NotFound:  # a span removed with its artifact: say so, keep the id
                evidence.append({"span_id": span_id, "missing": True})
        records.append({**{k: v for k, v in record.items() if k != "evidence_span_ids"},
                        "evidence": evidence})
    return records


async def cite_hit(conn: AsyncConnection, hit: dict[str, Any]) -> dict[str, Any]:
    """One search hit as a citation: versions quote their passage (or a window), intents
    and decisions quote their statement and carry their provenance with its evidence."""
    base = {"rank": hit["rank"], "score": hit["score"], "entity_type": hit["entity_type"],
            "entity_id": hit["entity_id"], "created_at": hit.get("created_at")}
    if hit["entity_type"] != "artifact_version":
        entity_type = EntityType(hit["entity_type"])
        row = await (get_decision(conn, hit["entity_id"]) if entity_type is EntityType.DECISION
                     else get_intent(conn, hit["entity_id"]))
        return {**base, "quote": row["statement"], "status": row["status"],
                "rationale": row.get("rationale"), "updated_at": row.get("updated_at"),
                "superseded_by_id": row.get("superseded_by_id"),
                "provenance": await evidence_of(conn, entity_type, hit["entity_id"])}
    version = await get_version(conn, hit["artifact_id"], hit["version_number"])
    span = hit.get("span")
    if span:
        start, end = span["start_offset"], span["end_offset"]
    else:
        start, end = _window(hit, len(version["content"]))
    return {**base, **citation(version, start, end, span), "title": hit.get("title"),
            "source": hit.get("source"), "external_id": hit.get("external_id"),
            "artifact_kind": hit.get("artifact_kind")}
