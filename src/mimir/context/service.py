"""A ready-to-paste context for a question and a token budget, every piece cited.

1. Search: the default (hybrid) search with the request's filters, its best `hits`; plain
   full-text search when no embedding provider is configured (`search_mode` says which).
2. Pieces: a version hit gives its passage (the span search chose) and up to two more of
   its passages holding match offsets; overlapping or touching ranges of the same version
   are merged into one piece (quoted from the stored version). A decision hit gives the
   decision at the head of its supersession chain: superseded decisions are left out and
   their current successor stands in for them (`replaces` names them). Rejected intents
   are left out.
3. Order: current (active) decisions, then accepted intents, then everything else
   (passages, proposed intents, tentative decisions), each group by search rank, a
   version's passages in text order.
4. Pack: pieces are taken in that order while they fit the budget; a passage that does not
   fit whole is cut at a token boundary when at least `MIN_CUT_TOKENS` remain (marked
   `truncated`), other pieces that do not fit are skipped. The packed text never exceeds
   the budget: it is counted whole at the end and cut back if needed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

from psycopg import AsyncConnection
from pydantic import AwareDatetime, Field, ValidationError, model_validator

from mimir.artifacts.service import ArtifactKind
from mimir.context.tokens import TokenCounter, token_counter
from mimir.db.queries import queries
from mimir.embeddings.provider import EmbeddingProvider
from mimir.search.hits import PASSAGE_PREFERENCE
from mimir.search.hybrid import HybridQuery, Spare, hybrid_search
from mimir.search.scope import MAX_LIMIT, QueryText, SearchEntityType, SearchScope
from mimir.search.text import TextSearchRequest, search_text
from mimir.validation import Label, StrictModel

MIN_BUDGET = 16
MAX_BUDGET = 32_000
DEFAULT_BUDGET = 2_000
MIN_CUT_TOKENS = 16
PASSAGES_PER_VERSION = 3
# Text around a match of a version that has no passages yet (code points before, after).
WINDOW_BEFORE, WINDOW_AFTER = 200, 800
MAX_CHAIN_DEPTH = 1000
FILTERS = ("entity_types", "artifact_kinds", "sources", "created_after", "created_before",
           "latest_only")
_SCOPE_FIELDS = SearchScope.model_fields


class ContextRequest(StrictModel):
    query: QueryText = Field(description="The question the context is for; searched both as "
                             "words and by meaning.", examples=["why did we pick PostgreSQL?"])
    budget: int = Field(default=DEFAULT_BUDGET, ge=MIN_BUDGET, le=MAX_BUDGET,
                        description=f"Most tokens the packed text may take ({MIN_BUDGET}-"
                        f"{MAX_BUDGET}), counted with the tokenizer the response names.",
                        examples=[1500])
    hits: int = Field(default=20, ge=1, le=MAX_LIMIT, description="How many of the best "
                      "search hits the pieces are made from (1-100).", examples=[20])
    entity_types: list[SearchEntityType] = _SCOPE_FIELDS["entity_types"]
    artifact_kinds: list[ArtifactKind] | None = _SCOPE_FIELDS["artifact_kinds"]
    sources: list[Label] | None = _SCOPE_FIELDS["sources"]
    created_after: AwareDatetime | None = _SCOPE_FIELDS["created_after"]
    created_before: AwareDatetime | None = _SCOPE_FIELDS["created_before"]
    latest_only: bool = _SCOPE_FIELDS["latest_only"]

    @model_validator(mode="after")
    def _valid_scope(self) -> ContextRequest:
        self.scope()
        return self

    def scope(self) -> dict[str, Any]:
        """The search filters, checked as the search endpoints check them."""
        try:
            scope = SearchScope(**self.model_dump(include=set(FILTERS)), limit=self.hits)
        except ValidationError as exc:
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ")
                                        for e in exc.errors())) from None
        return scope.model_dump(include={*FILTERS, "limit"})


async def _search(conn: AsyncConnection, request: ContextRequest,
                  provider: EmbeddingProvider | None, default_space: str | None,
                  default_language: str, spare: Spare | None
                  ) -> tuple[list[dict[str, Any]], str]:
    scope = request.scope()
    if provider is not None and default_space is not None:
        result = await hybrid_search(conn, HybridQuery(query=request.query, **scope), provider,
                                     default_space, default_language=default_language,
                                     spare=spare)
        return result["hits"], "hybrid"
    result = await search_text(conn, TextSearchRequest(query=request.query, **scope),
                               default_language=default_language)
    return result["hits"], "text"


def _match_starts(hit: dict[str, Any]) -> list[int]:
    return [m["start_offset"] for m in hit.get("matches") or [] if m["field"] == "content"]


async def _version_ranges(conn: AsyncConnection,
                          hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranges of versions to quote: each hit's passage, its other passages holding most
    match offsets, or a window around its first match when it has no passages."""
    version_hits = [h for h in hits if h["entity_type"] == "artifact_version"]
    passages: dict[Any, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    if version_hits:
        async for row in queries.search_hit_spans(
                conn, version_ids=[h["entity_id"] for h in version_hits]):
            passages[row["version_id"]][row["span_type"]].append(row)
    ranges = []
    for hit in version_hits:
        chosen: list[tuple[int, int, Any]] = []
        if hit.get("span"):
            span = hit["span"]
            chosen.append((span["start_offset"], span["end_offset"], span["id"]))
        kinds = passages.get(hit["entity_id"], {})
        own = next((kinds[k] for k in PASSAGE_PREFERENCE if kinds.get(k)), [])
        starts = _match_starts(hit)
        by_matches = sorted(
            ((sum(p["start_offset"] <= s < p["end_offset"] for s in starts), p) for p in own),
            key=lambda pair: (-pair[0], pair[1]["start_offset"]))
        for count, passage in by_matches:
            if len(chosen) >= PASSAGES_PER_VERSION or count == 0:
                break
            if all(passage["id"] != c[2] for c in chosen):
                chosen.append((passage["start_offset"], passage["end_offset"], passage["id"]))
        if not chosen:
            first = min(starts, default=0)
            chosen.append((max(0, first - WINDOW_BEFORE), first + WINDOW_AFTER, None))
        for start, end, span_id in chosen:
            ranges.append({"version_id": hit["entity_id"], "start_offset": start,
                           "end_offset": end, "span_id": span_id, "rank": hit["rank"]})
    return ranges


def merge_ranges(ranges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overlapping or touching ranges of the same version as one range, with every span id
    it covers and the best (lowest) rank of the hits behind it."""
    merged: list[dict[str, Any]] = []
    by_version: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for item in ranges:
        by_version[item["version_id"]].append(item)
    for version_id, items in by_version.items():
        current = None
        for item in sorted(items, key=lambda r: (r["start_offset"], r["end_offset"])):
            ids = [item["span_id"]] if item["span_id"] else []
            if current is not None and item["start_offset"] <= current["end_offset"]:
                current["end_offset"] = max(current["end_offset"], item["end_offset"])
                current["span_ids"] += [i for i in ids if i not in current["span_ids"]]
                current["rank"] = min(current["rank"], item["rank"])
                current["parts"] += 1
                continue
            current = {"version_id": version_id, "start_offset": item["start_offset"],
                       "end_offset": item["end_offset"], "span_ids": ids,
                       "rank": item["rank"], "parts": 1}
            merged.append(current)
    return merged


async def _passage_pieces(conn: AsyncConnection,
                          hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = merge_ranges(await _version_ranges(conn, hits))
    if not merged:
        return []
    rows = [row async for row in queries.context_get_slices(
        conn, version_ids=[m["version_id"] for m in merged],
        starts=[m["start_offset"] for m in merged], ends=[m["end_offset"] for m in merged])]
    pieces = []
    for item, row in zip(merged, rows, strict=True):
        # A window may reach past the end of the text: the slice says where it stops.
        end = min(item["end_offset"], row["content_length"])
        single = len(item["span_ids"]) == 1 and item["parts"] == 1
        pieces.append({
            "entity_type": "artifact_version", "entity_id": row["version_id"],
            "artifact_id": row["artifact_id"], "version_id": row["version_id"],
            "version_number": row["version_number"], "title": row["title"],
            "span_id": item["span_ids"][0] if single else None,
            "span_ids": item["span_ids"], "merged": item["parts"] > 1,
            "start_offset": item["start_offset"], "end_offset": end, "text": row["text"],
            "status": None, "replaces": [], "rank": item["rank"], "tier": 2})
    return pieces


def _statement_piece(entity_type: str, row: dict[str, Any], rank: int,
                     tier: int) -> dict[str, Any]:
    return {"entity_type": entity_type, "entity_id": row["id"], "artifact_id": None,
            "version_id": None, "version_number": None, "title": None, "span_id": None,
            "span_ids": [], "merged": False, "start_offset": None, "end_offset": None,
            "text": row["statement"], "status": row["status"], "replaces": [], "rank": rank,
            "tier": tier}


async def _decision_pieces(conn: AsyncConnection, hits: list[dict[str, Any]],
                           left_out: dict[str, int]) -> list[dict[str, Any]]:
    ranks = {h["entity_id"]: h["rank"] for h in hits if h["entity_type"] == "decision"}
    if not ranks:
        return []
    pieces: dict[uuid.UUID, dict[str, Any]] = {}
    async for row in queries.context_get_current_decisions(
            conn, ids=list(ranks), max_depth=MAX_CHAIN_DEPTH):
        if row["status"] == "superseded":  # a chain longer than the walk: no head found
            left_out["superseded_decisions"] += 1
            continue
        piece = pieces.get(row["id"])
        if piece is None:
            tier = 0 if row["status"] == "active" else 2
            piece = pieces[row["id"]] = _statement_piece("decision", row, ranks[row["origin_id"]],
                                                         tier)
        piece["rank"] = min(piece["rank"], ranks[row["origin_id"]])
        if row["origin_id"] != row["id"]:
            piece["replaces"].append(row["origin_id"])
            left_out["superseded_decisions"] += 1
    return list(pieces.values())


async def _intent_pieces(conn: AsyncConnection, hits: list[dict[str, Any]],
                         left_out: dict[str, int]) -> list[dict[str, Any]]:
    ranks = {h["entity_id"]: h["rank"] for h in hits if h["entity_type"] == "intent"}
    if not ranks:
        return []
    pieces = []
    async for row in queries.context_get_intents(conn, ids=list(ranks)):
        if row["status"] == "rejected":
            left_out["rejected_intents"] += 1
            continue
        pieces.append(_statement_piece("intent", row, ranks[row["id"]],
                                       1 if row["status"] == "accepted" else 2))
    return pieces


def marker(number: int, piece: dict[str, Any]) -> str:
    """The short citation line above a piece in the packed text; the piece's full citation
    (ids, offsets) is `pieces[number - 1]` of the response."""
    if piece["entity_type"] != "artifact_version":
        return f"[{number}] {piece['entity_type']}, {piece['status']}"
    title = piece["title"] or "untitled"
    return (f"[{number}] {title} · v{piece['version_number']} · "
            f"{piece['start_offset']}-{piece['end_offset']}")


def _block(piece: dict[str, Any]) -> str:
    return f"{piece['marker']}\n{piece['text']}"


def _cut(piece: dict[str, Any], tokens: int, counter: TokenCounter) -> bool:
    """Shorten a passage piece to at most `tokens` tokens of text; False when nothing fits."""
    keep = counter.prefix_within(piece["text"], tokens)
    if keep <= 0 or piece["entity_type"] != "artifact_version":
        return False
    piece["text"] = piece["text"][:keep]
    piece["end_offset"] = piece["start_offset"] + keep
    piece["truncated"] = True
    piece["marker"] = marker(piece["number"], piece)
    return True


SEPARATOR = "\n\n"


def pack(candidates: list[dict[str, Any]], budget: int,
         counter: TokenCounter) -> tuple[list[dict[str, Any]], str, int, int]:
    """The pieces that fit the budget, in order, and the packed text; returns (pieces,
    text, tokens used, pieces left out)."""
    packed: list[dict[str, Any]] = []
    remaining = budget
    skipped = 0
    for candidate in candidates:
        piece = {**candidate, "number": len(packed) + 1, "truncated": False}
        piece["marker"] = marker(piece["number"], piece)
        cost = counter.count(_block(piece))
        if cost > remaining:
            header = counter.count(piece["marker"])
            room = remaining - header
            if (piece["entity_type"] != "artifact_version" or room < MIN_CUT_TOKENS
                    or not _cut(piece, room, counter)):
                skipped += 1
                continue
            cost = counter.count(_block(piece))
        packed.append(piece)
        remaining -= cost
    text = SEPARATOR.join(_block(p) for p in packed)
    used = counter.count(text)
    # Counting the whole may differ from the sum of the parts: cut back until it fits.
    while used > budget and packed:
        last = packed[-1]
        over = used - budget
        room = counter.count(last["text"]) - over
        if last["entity_type"] != "artifact_version" or room < 1 or not _cut(last, room, counter):
            packed.pop()
            skipped += 1
        text = SEPARATOR.join(_block(p) for p in packed)
        used = counter.count(text)
    return packed, text, used, skipped


PIECE_FIELDS = ("marker", "entity_type", "entity_id", "artifact_id", "version_id",
                "version_number", "title", "span_id", "span_ids", "merged", "start_offset",
                "end_offset", "text", "status", "replaces", "truncated", "rank")


def _packed(candidates: list[dict[str, Any]], budget: int
            ) -> tuple[TokenCounter, list[dict[str, Any]], str, int, int]:
    """Pack the candidates into the budget and count each chosen piece's tokens."""
    counter = token_counter()
    pieces, text, used, skipped = pack(candidates, budget, counter)
    for piece in pieces:
        piece["tokens"] = counter.count(_block(piece))
    return counter, pieces, text, used, skipped


async def build_context(conn: AsyncConnection, request: ContextRequest,
                        provider: EmbeddingProvider | None, default_space: str | None, *,
                        default_language: str, spare: Spare | None = None) -> dict[str, Any]:
    hits, mode = await _search(conn, request, provider, default_space, default_language, spare)
    left_out = {"superseded_decisions": 0, "rejected_intents": 0, "over_budget": 0}
    candidates = [*await _decision_pieces(conn, hits, left_out),
                  *await _intent_pieces(conn, hits, left_out),
                  *await _passage_pieces(conn, hits)]
    candidates.sort(key=lambda p: (p["tier"], p["rank"], p["start_offset"] or 0))
    # Tokenizing is CPU work (and the first call loads the tokenizer file): off the loop.
    counter, pieces, text, used, skipped = await asyncio.to_thread(
        _packed, candidates, request.budget)
    left_out["over_budget"] = skipped
    return {
        "query": request.query, "budget": request.budget, "tokens_used": used,
        "tokenizer": {"name": counter.name, "exact": counter.exact, "note": counter.note},
        "search_mode": mode, "hits_considered": len(hits),
        "pieces": [{**{f: p.get(f) for f in PIECE_FIELDS}, "tokens": p["tokens"]}
                   for p in pieces],
        "left_out": left_out, "text": text}
