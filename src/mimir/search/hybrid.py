"""Hybrid search: full-text (BM25) and semantic results fused into one ranking.

Two fusions:
- `weighted` (default): a convex combination of each list's scores after min-max
  normalisation over that list's candidates: fused = w_t * norm_text + w_s * norm_semantic,
  with w_t + w_s = 1 (the weights given are rescaled), and 0 for a list a hit is not in.
  Unlike rank fusion it keeps how far apart the scores are, so a list that is sure (one
  hit far ahead) outweighs one that is not. The default weights were fitted on the dev
  sets (SciFact train queries and Mímir's own conversation questions, never a test set;
  docs/search-quality.md and scripts/fit_fusion.py).
- `rrf`: reciprocal rank fusion, sum over lists of weight / (rrf_k + rank).

Each hit reports its rank, score and normalised score in both lists, so a client can see
what each list contributed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import Field

from mimir.embeddings.provider import EmbeddingProvider
from mimir.search.hits import attach_spans
from mimir.search.scope import MAX_LIMIT, QueryText, SearchScope
from mimir.search.semantic import SemanticQuery, semantic_search
from mimir.search.text import TextOptions, TextSearchRequest, decorate, rank_text

# Fitted on the dev sets (see the module docstring); the text list's share.
DEFAULT_TEXT_WEIGHT = 0.4
DEFAULT_SEMANTIC_WEIGHT = 0.6
DEFAULT_RRF_K = 60.0


class HybridQuery(SearchScope, TextOptions):
    query: QueryText = Field(description="Searched both as words and by meaning.",
                             examples=["when do we ship the importer?"])
    fusion: Literal["weighted", "rrf"] = Field(
        default="weighted", description="`weighted`: convex combination of min-max "
        "normalised scores; `rrf`: reciprocal rank fusion.", examples=["weighted"])
    rrf_k: float = Field(default=DEFAULT_RRF_K, gt=0, le=10_000, description="RRF constant k "
                         "(fusion `rrf` only): larger flattens the difference between ranks.",
                         examples=[60])
    text_weight: float = Field(default=DEFAULT_TEXT_WEIGHT, ge=0, le=100,
                               description="Weight of the full-text list.")
    semantic_weight: float = Field(default=DEFAULT_SEMANTIC_WEIGHT, ge=0, le=100,
                                   description="Weight of the semantic list.")
    candidates: int = Field(default=100, ge=1, le=MAX_LIMIT,
                            description="Hits taken from each list before fusing.")
    space: str | None = Field(default=None, max_length=63, description="Embedding space "
                              "(default: the configured provider's).")
    ef_search: int | None = Field(default=None, ge=1, le=1000, description="HNSW ef_search.")


def _normalised(hits: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Min-max normalised score of each hit of one list (1.0 when all scores are equal)."""
    if not hits:
        return {}
    scores = [h["score"] for h in hits]
    low, high = min(scores), max(scores)
    spread = high - low
    return {(h["entity_type"], str(h["entity_id"])): (h["score"] - low) / spread if spread else 1.0
            for h in hits}


def fuse(text_hits: list[dict[str, Any]], semantic_hits: list[dict[str, Any]], *, k: float,
         text_weight: float, semantic_weight: float,
         fusion: str = "weighted") -> list[dict[str, Any]]:
    """One ranking of two ranked lists of hits keyed by (entity_type, entity_id)."""
    total = text_weight + semantic_weight
    weights = {"text": text_weight / total if total else 0.5,
               "semantic": semantic_weight / total if total else 0.5}
    if fusion == "rrf":
        weights = {"text": text_weight, "semantic": semantic_weight}
    fused: dict[tuple[str, str], dict[str, Any]] = {}
    for source, hits in (("text", text_hits), ("semantic", semantic_hits)):
        normalised = _normalised(hits)
        for hit in hits:
            key = (hit["entity_type"], str(hit["entity_id"]))
            entry = fused.setdefault(key, {
                **{f: hit.get(f) for f in ("entity_type", "entity_id", "artifact_id",
                                           "version_number", "artifact_kind", "title", "source",
                                           "external_id", "created_at")},
                "score": 0.0, "text": None, "semantic": None, "span": None,
                "snippet": None, "matches": None})
            if fusion == "rrf":
                entry["score"] += weights[source] / (k + hit["rank"])
            else:
                entry["score"] += weights[source] * normalised[key]
            entry[source] = {"rank": hit["rank"], "score": hit["score"],
                             "normalized": normalised[key]}
            if source == "text":
                entry["snippet"] = hit.get("snippet")
                entry["matches"] = hit.get("matches")
                entry["span"] = entry["span"] or hit.get("span")
            elif hit.get("span"):
                # The semantic list's passage is the one that matched by meaning.
                entry["span"] = hit["span"]
    ranked = sorted(fused.values(), key=lambda e: (-e["score"], e["entity_type"], str(e["entity_id"])))
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank
    return ranked


# A spare connection: an async context manager that gives a second pooled connection of
# the same route (namespace, primary or replica) when one is free at once, else None.
Spare = Callable[[], AbstractAsyncContextManager[AsyncConnection | None]]


async def hybrid_search(conn: AsyncConnection, request: HybridQuery,
                        provider: EmbeddingProvider | None, default_space: str | None, *,
                        default_language: str, spare: Spare | None = None) -> dict[str, Any]:
    """The two lists, fused. A local model embeds the question first, with every core to
    itself: beside the text list its threads and the database fight over the cores (on two
    cores, 0.93x when they no longer overlap). A remote model's wait overlaps the text list.
    The two lists run at once when a spare connection is free (0.84x of overlapping the
    embedding with the text list), else one after the other (docs/search-quality.md,
    "Hybrid at 100k: the embedding alone first")."""
    scope = request.model_dump(include=set(SearchScope.model_fields) - {"offset", "limit"})
    candidates = max(request.candidates, request.offset + request.limit)
    vector: list[float] | None = None
    vector_task: asyncio.Future[list[float]] | None = None
    if provider is not None and default_space is not None and request.space in (None, default_space):
        if provider.name == "local":  # computed on this machine's cores
            vector = await provider.embed_query(request.query)
        else:  # a network wait: the text list runs meanwhile
            vector_task = asyncio.ensure_future(provider.embed_query(request.query))
    # Internal requests may look deeper than a client's `limit` (paging a fused list).
    text_request = TextSearchRequest(
        **scope, query=request.query, language=request.language, match=request.match,
    ).model_copy(update={"limit": candidates})

    def text_list(on: AsyncConnection) -> Awaitable[dict[str, Any]]:
        return rank_text(on, text_request, default_language=default_language, snippets=False)

    async def semantic_list(on: AsyncConnection) -> dict[str, Any]:
        wanted = vector if vector_task is None else await vector_task
        semantic_input = {"query": request.query} if wanted is None else {"vector": wanted}
        # Exactly `candidates` nearest passages (hnsw.ef_search as large, unless given): the
        # standalone semantic search's 4x headroom cost 3x the time here and no recall
        # (docs/search-quality.md, "Hybrid at 100k and 1M").
        return await semantic_search(on, SemanticQuery(
            **scope, space=request.space, ef_search=request.ef_search, **semantic_input,
        ).model_copy(update={"limit": candidates}), provider, default_space,
            candidates=candidates)

    try:
        async with (spare() if spare is not None else nullcontext()) as other:
            if other is None:
                text = await text_list(conn)
                semantic = await semantic_list(conn)
            else:
                # A failing list cancels the other before its connection goes back to the
                # pool; the caller sees the failure itself (the text list's first).
                try:
                    async with asyncio.TaskGroup() as group:
                        text_task = group.create_task(text_list(conn))
                        semantic_task = group.create_task(semantic_list(other))
                except BaseExceptionGroup:
                    for task in (text_task, semantic_task):
                        if task.done() and not task.cancelled() and task.exception() is not None:
                            raise task.exception() from None
                    raise
                text, semantic = text_task.result(), semantic_task.result()
    finally:
        if vector_task is not None and not vector_task.done():
            vector_task.cancel()
    hits = fuse(text["hits"], semantic["hits"], k=request.rrf_k, text_weight=request.text_weight,
                semantic_weight=request.semantic_weight, fusion=request.fusion)
    hits = hits[request.offset:request.offset + request.limit]
    # Snippets and match offsets only for the hits returned, not every candidate.
    from_text = [h for h in hits if h["text"] is not None]
    await decorate(conn, text["language"], text["_lexemes"], from_text, snippets=True)
    await attach_spans(conn, hits)
    return {"hits": hits, "query": request.query, "space": semantic["space"],
            "language": text["language"], "match": text["match"], "fusion": request.fusion,
            "rrf_k": request.rrf_k,
            "weights": {"text": request.text_weight, "semantic": request.semantic_weight}}
