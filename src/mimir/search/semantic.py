"""Semantic search: nearest vectors in an embedding space (HNSW), resolved to artifact
versions (with the matching chunk span), intents and decisions."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql
from pydantic import Field, model_validator

from mimir.db import citus
from mimir.db.namespaced import namespace_for
from mimir.db.queries import queries
from mimir.embeddings.provider import EmbeddingProvider
from mimir.embeddings.service import DISTANCE_OPERATOR, check_vector, get_space, vector_literal
from mimir.errors import Invalid
from mimir.search.scope import QueryText, SearchScope


class SemanticQuery(SearchScope):
    query: QueryText | None = Field(default=None,
                                    description="Text to embed server-side (or give `vector`).",
                                    examples=["when do we ship the importer?"])
    vector: list[float] | None = Field(default=None, min_length=1, max_length=16000,
                                       description="A query vector of the space's dimension.")
    space: str | None = Field(default=None, max_length=63, description="Embedding space name "
                              "(default: the configured provider's space).", examples=["local-e5"])
    ef_search: int | None = Field(default=None, ge=1, le=1000, description="HNSW ef_search for "
                                  "this query (recall vs speed).", examples=[100])

    @model_validator(mode="after")
    def _one_input(self) -> SemanticQuery:
        if (self.query is None) == (self.vector is None):
            raise ValueError("give exactly one of query or vector")
        return self


# A filtered search compares the query with every passage in scope up to this many
# (exact, no index); a larger scope uses the HNSW index with the filter applied during
# its iterative scan.
EXACT_SCOPE_MAX = 20_000
TARGET_TYPES = {"artifact_version": "span", "intent": "intent", "decision": "decision"}


async def semantic_search(conn: AsyncConnection, request: SemanticQuery,
                          provider: EmbeddingProvider | None, default_space: str | None,
                          candidates: int | None = None) -> dict[str, Any]:
    """Nearest hits by vector; the query text is embedded with the configured provider."""
    space_name = request.space or default_space
    if space_name is None:
        raise Invalid("no embedding space: name one with `space` (no provider is configured)",
                      details={"parameter": "space"})
    space = await get_space(conn, space_name)
    if request.vector is not None:
        vector = request.vector
    else:
        if provider is None or default_space is None or space_name != default_space:
            raise Invalid(f"space {space_name!r} has no server-side model; send `vector` instead",
                          details={"parameter": "query"})
        vector = await provider.embed_query(request.query)
    check_vector(space, vector)
    window = request.offset + request.limit
    hits = await nearest(conn, space, vector, request, candidates or max(window * 4, 100))
    hits = hits[request.offset:window]
    return {"hits": hits, "space": space["name"]}


def _template(text: str) -> str:
    """A template from sql/semantic.sql, without its closing semicolon (it is nested)."""
    return text.strip().rstrip(";")


def _filtered(scope: SearchScope) -> bool:
    return bool(scope.artifact_kinds or scope.sources or scope.created_after
                or scope.created_before)


async def nearest(conn: AsyncConnection, space: dict[str, Any], vector: list[float],
                  scope: SearchScope, candidates: int,
                  ef_search: int | None = None) -> list[dict[str, Any]]:
    """Ranked hits (rank from 1, score: cosine similarity, negative distance otherwise)."""
    params = {
        "query_vector": vector_literal(vector), "candidates": candidates,
        "entity_types": [t.value for t in scope.entity_types], "latest_only": scope.latest_only,
        "target_types": [TARGET_TYPES[t.value] for t in scope.entity_types],
        "kinds": [k.value for k in scope.artifact_kinds] if scope.artifact_kinds else None,
        "sources": scope.sources,
        "created_after": scope.created_after, "created_before": scope.created_before,
        "namespace": namespace_for(conn),
    }
    dims = sql.Literal(int(space["dimensions"]))
    op = sql.SQL(DISTANCE_OPERATOR[space["distance"]])
    distance = sql.SQL("e.embedding::vector({dims}) {op} %(query_vector)s::vector({dims})"
                       ).format(dims=dims, op=op)
    space_id = sql.Literal(str(space["id"]))
    ef = ef_search or getattr(scope, "ef_search", None) or max(candidates, 40)
    async with conn.transaction():
        # Also plans each statement for its actual filter values (see the query's comment).
        await queries.semantic_set_search_options(conn, ef_search=min(ef, 1000))
        if citus.on_citus(conn):  # set_config(..., true) does not reach the workers
            await citus.set_local(conn, {"hnsw.ef_search": min(ef, 1000),
                                         "hnsw.iterative_scan": "relaxed_order"})
        if _filtered(scope):
            size = await queries.semantic_count_scope(
                conn, kinds=params["kinds"], sources=scope.sources,
                created_after=scope.created_after, created_before=scope.created_before,
                cap=EXACT_SCOPE_MAX)
            exact = size["passages"] <= EXACT_SCOPE_MAX
            nearest_targets = sql.SQL(_template(queries.semantic_find_nearest_scoped.sql)).format(
                dims=dims, op=op, space_id=space_id,
                order=sql.SQL("({}) + 0").format(distance) if exact else distance)
        else:
            nearest_targets = sql.SQL(_template(queries.semantic_find_nearest.sql)).format(
                dims=dims, op=op, space_id=space_id)
        query = sql.SQL(_template(queries.semantic_resolve_hits.sql)).format(
            nearest=nearest_targets)
        rows = await (await conn.execute(query, params, prepare=False)).fetchall()
    rows.sort(key=lambda r: (r["distance"], str(r["entity_id"])))
    hits = []
    for rank, row in enumerate(rows, start=1):
        distance_value = float(row["distance"])
        score = 1 - distance_value if space["distance"] == "cosine" else -distance_value
        hit = {k: row[k] for k in ("entity_type", "entity_id", "artifact_id", "version_number",
                                   "artifact_kind", "title", "source", "external_id",
                                   "created_at", "text")}
        hit.update(rank=rank, score=score, distance=distance_value)
        hit["span"] = None
        if row["span_id"] is not None:
            hit["span"] = {"id": row["span_id"], "span_type": row["span_type"],
                           "start_offset": row["start_offset"], "end_offset": row["end_offset"],
                           "text": row["text"]}
        hits.append(hit)
    return hits
