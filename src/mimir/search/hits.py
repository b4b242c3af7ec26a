"""What every search mode adds to its hits, so that they share one shape: the passage a
version hit points to (`span`). Where a hit comes from (source, external id, creation
time) comes with it from each mode's own query."""

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
