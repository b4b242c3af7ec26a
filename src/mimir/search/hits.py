"""What every search mode adds to its hits, so that they share one shape: where a hit comes
from (source, external id, creation time) and the passage it points to (`span`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from psycopg import AsyncConnection

from mimir.db.queries import queries

# A conversation's messages are the unit of recall; other texts point to their chunks.
PASSAGE_PREFERENCE = ("message", "chunk")


def best_passage(passages: list[dict[str, Any]], starts: list[int]) -> dict[str, Any] | None:
    """The passage holding most of the match offsets (the earliest on a tie); the only
    passage when no match falls in one (the hit matched on its title or metadata)."""
    best, best_count = None, 0
    for passage in passages:
        count = sum(passage["start_offset"] <= s < passage["end_offset"] for s in starts)
        if count > best_count:
            best, best_count = passage, count
    if best is None and len(passages) == 1:
        best = passages[0]
    return best


async def attach_spans(conn: AsyncConnection, hits: list[dict[str, Any]]) -> None:
    """Give each version hit without a span the passage where its matches are."""
    wanted = [h["entity_id"] for h in hits
              if h["entity_type"] == "artifact_version" and not h.get("span")]
    for hit in hits:
        hit.setdefault("span", None)
    if not wanted:
        return
    by_version: dict[Any, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    async for row in queries.search_hit_spans(conn, version_ids=wanted):
        by_version[row["version_id"]][row["span_type"]].append(row)
    for hit in hits:
        if hit["entity_type"] != "artifact_version" or hit["span"]:
            continue
        kinds = by_version.get(hit["entity_id"], {})
        passages = next((kinds[k] for k in PASSAGE_PREFERENCE if kinds.get(k)), [])
        starts = [m["start_offset"] for m in hit.get("matches") or [] if m["field"] == "content"]
        chosen = best_passage(passages, starts)
        if chosen is not None:
            hit["span"] = {"id": chosen["id"], "span_type": chosen["span_type"],
                           "start_offset": chosen["start_offset"],
                           "end_offset": chosen["end_offset"], "text": chosen["text"]}


async def attach_details(conn: AsyncConnection, hits: list[dict[str, Any]]) -> None:
    """Source, external id and creation time of each hit (missing ones are looked up)."""
    missing = [h for h in hits if "source" not in h or "created_at" not in h]
    if not missing:
        return
    details = {(row["entity_type"], row["entity_id"]): row
               async for row in queries.search_hit_details(
                   conn, entity_types=[h["entity_type"] for h in missing],
                   entity_ids=[h["entity_id"] for h in missing])}
    for hit in missing:
        row = details.get((hit["entity_type"], hit["entity_id"]), {})
        for key in ("source", "external_id", "created_at"):
            hit[key] = row.get(key)
