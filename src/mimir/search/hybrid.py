"""Hybrid search: reciprocal rank fusion (RRF) of full-text and semantic results.

fused(entity) = sum over lists of weight_list / (k + rank_in_list), for the lists the
entity appears in. Each hit reports its rank and score in both lists, so a client can see
why it ranks where it does.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from pydantic import Field

from mimir.embeddings.provider import EmbeddingProvider
from mimir.search.scope import MAX_LIMIT, QueryText, SearchScope
from mimir.search.semantic import SemanticQuery, semantic_search
from mimir.search.text import TextSearchRequest, search_text


class HybridQuery(SearchScope):
    query: QueryText = Field(description="Searched both as words and by meaning.",
                             examples=["when do we ship the importer?"])
    rrf_k: float = Field(default=60, gt=0, le=10_000, description="RRF constant k: larger "
                         "flattens the difference between ranks.", examples=[60])
    text_weight: float = Field(default=1.0, ge=0, le=100, description="Weight of the full-text list.")
    semantic_weight: float = Field(default=1.0, ge=0, le=100,
                                   description="Weight of the semantic list.")
    candidates: int = Field(default=100, ge=1, le=MAX_LIMIT,
                            description="Hits taken from each list before fusing.")
    space: str | None = Field(default=None, max_length=63, description="Embedding space "
                              "(default: the configured provider's).")
    language: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                                 description="Text search configuration (default: english).")
    ef_search: int | None = Field(default=None, ge=1, le=1000, description="HNSW ef_search.")


def fuse(text_hits: list[dict[str, Any]], semantic_hits: list[dict[str, Any]], *, k: float,
         text_weight: float, semantic_weight: float) -> list[dict[str, Any]]:
    """RRF over two ranked lists of hits keyed by (entity_type, entity_id)."""
    fused: dict[tuple[str, str], dict[str, Any]] = {}
    for source, hits, weight in (("text", text_hits, text_weight),
                                 ("semantic", semantic_hits, semantic_weight)):
        for hit in hits:
            key = (hit["entity_type"], str(hit["entity_id"]))
            entry = fused.setdefault(key, {
                "entity_type": hit["entity_type"], "entity_id": hit["entity_id"],
                "artifact_id": hit.get("artifact_id"), "version_number": hit.get("version_number"),
                "artifact_kind": hit.get("artifact_kind"), "title": hit.get("title"),
                "score": 0.0, "text": None, "semantic": None})
            entry["score"] += weight / (k + hit["rank"])
            entry[source] = {"rank": hit["rank"], "score": hit["score"]}
            if source == "text":
                entry["snippet"] = hit.get("snippet")
                entry["matches"] = hit.get("matches", [])
            elif hit.get("span"):
                entry["span"] = {**hit["span"], "text": hit.get("text")}
    ranked = sorted(fused.values(), key=lambda e: (-e["score"], e["entity_type"], str(e["entity_id"])))
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank
    return ranked


async def hybrid_search(conn: AsyncConnection, request: HybridQuery,
                        provider: EmbeddingProvider | None, default_space: str | None, *,
                        default_language: str) -> dict[str, Any]:
    scope = request.model_dump(include=set(SearchScope.model_fields)) | {"limit": request.candidates}
    text = await search_text(conn, TextSearchRequest(
        **scope, query=request.query, language=request.language, match="any"),
        default_language=default_language)
    semantic = await semantic_search(conn, SemanticQuery(
        **scope, query=request.query, space=request.space, ef_search=request.ef_search),
        provider, default_space)
    hits = fuse(text["hits"], semantic["hits"], k=request.rrf_k, text_weight=request.text_weight,
                semantic_weight=request.semantic_weight)
    return {"hits": hits[: request.limit], "query": request.query, "space": semantic["space"],
            "language": text["language"], "rrf_k": request.rrf_k,
            "weights": {"text": request.text_weight, "semantic": request.semantic_weight}}
