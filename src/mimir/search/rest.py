"""REST shim for search: parse, call the service, render. Full-text search lives here;
semantic and hybrid search add their routes to the same router."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field

from mimir.artifacts.service import ArtifactKind
from mimir.rest.deps import Conn
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import errors, json_response
from mimir.search import text
from mimir.search.hybrid import HybridQuery, hybrid_search
from mimir.search.scope import SearchEntityType
from mimir.search.semantic import SemanticQuery, semantic_search
from mimir.search.text import TextSearchRequest

router = APIRouter(prefix="/api/v1/search", tags=["search"])


# Full-text search ----------------------------------------------------------------------

class TextMatch(ResponseModel):
    field: Literal["content", "statement", "rationale"] = Field(
        description="Which text the offsets point into: a version's `content`, an intent's "
        "or decision's `statement`, a decision's `rationale`.", examples=["content"])
    start_offset: int = Field(description="First code point of the matched word (Python str "
                              "index), usable as a span's start_offset.", examples=[27])
    end_offset: int = Field(description="One past its last code point.", examples=[34])
    text: str = Field(description="The matched word as it appears in the text.",
                      examples=["running"])


class SpanRef(ResponseModel):
    id: uuid.UUID = Field(description="The span's id (GET /api/v1/spans/{id}).")
    span_type: str | None = Field(default=None, description="`message` (a conversation's "
                                  "message), `chunk` (a passage made for embedding), ...",
                                  examples=["message"])
    start_offset: int = Field(description="Code-point offset in the version's content.")
    end_offset: int = Field(description="End offset, exclusive, in code points.")
    text: str | None = Field(default=None, description="The span's text.")


class SearchHit(ResponseModel):
    """What every search mode returns for a hit: the entity, where it comes from, and the
    passage it points to."""

    entity_type: SearchEntityType = Field(description="What was found: an artifact "
                                          "version, an intent or a decision.",
                                          examples=["artifact_version"])
    entity_id: uuid.UUID = Field(description="Id of that entity.")
    artifact_id: uuid.UUID | None = Field(default=None, description="The version's artifact "
                                          "(versions only).")
    version_number: int | None = Field(default=None, description="Versions only.", examples=[3])
    artifact_kind: ArtifactKind | None = Field(default=None, description="Versions only.",
                                               examples=["conversation"])
    title: str | None = Field(default=None, description="The artifact's title (versions only).")
    source: str | None = Field(default=None, description="The artifact's source (versions "
                               "only).", examples=["chatgpt_export"])
    external_id: str | None = Field(default=None, description="The artifact's id in its "
                                    "source (versions only).", examples=["conv-8c1f"])
    created_at: datetime | None = Field(default=None, description="When the version, intent "
                                        "or decision was created.")
    rank: int = Field(description="1-based position in the whole result (offset included).",
                      examples=[1])
    span: SpanRef | None = Field(default=None, description="The passage of a version hit: "
                                 "the message (conversations) or chunk that matched, with "
                                 "exact offsets; null for intents and decisions, and for a "
                                 "version not yet split into passages.")


class TextHit(SearchHit):
    score: float = Field(description="BM25 score (english; ts_rank_cd for other languages); "
                         "higher is better, unbounded.", examples=[7.31])
    snippet: str = Field(description="Up to three fragments with matches marked «…».",
                         examples=["we moved the «sync» to Thursday … the «sync» notes"])
    matches: list[TextMatch] = Field(description=f"Every matched word's offsets, at most "
                                     f"{text.MAX_MATCHES}, in text order.")
    matches_truncated: bool = Field(description="True when there were more matches than listed.")


class TextSearchResponse(ResponseModel):
    hits: list[TextHit] = Field(description="The hits, best first.")
    query: str = Field(description="The query as sent.")
    language: str = Field(description="The text search configuration used.",
                          examples=["english"])
    tsquery: str = Field(description="The query as PostgreSQL parsed it.",
                         examples=["'week' <-> 'sync' & 'thursday' & !'cancel'"])
    match: Literal["all", "any", "all_then_any"] = Field(
        description="The semantics used (`auto` resolved): `all_then_any` when a query with "
        "operators had fewer full matches than asked for and any-word matches follow them.",
        examples=["any"])
    notice: str | None = Field(description="Set when the query could not be searched as "
                               "given (e.g. only stop words).")


@router.post("/text", summary="Full-text search", response_model=TextSearchResponse,
             responses=errors(400))
async def search_text(body: TextSearchRequest, request: Request, conn: Conn):
    """PostgreSQL full-text search over artifact versions (latest only by default),
    intents and decisions (statement and rationale), in web-search syntax: words,
    `"quoted phrases"`, `or`, `-excluded`. By default (`match: auto`) a plain question
    finds every text with any of its words, ranked by BM25; quotes or `-` make every term
    required. Ties are broken by id. Each hit has a snippet, the exact code-point offsets
    of its matched words (ready for `POST /api/v1/spans`), and its best passage (`span`).
    `offset` pages past the first `limit` hits.

    Filters: `entity_types`, `artifact_kinds` and `sources` (these two limit the search
    to artifact versions), `created_after` (inclusive) / `created_before` (exclusive),
    `latest_only`. `language` is any text search configuration the database has; versions
    are indexed in english, another language is computed on the fly. A query made only
    of stop words returns no hits and a `notice`."""
    settings = request.app.state.settings
    default_language = getattr(settings, "search_language", text.DEFAULT_LANGUAGE)
    return json_response(await text.search_text(conn, body, default_language=default_language))


# Semantic and hybrid search --------------------------------------------------------------

class ListPosition(ResponseModel):
    rank: int = Field(description="1-based rank in that list.", examples=[3])
    score: float = Field(description="The list's own score (BM25 or similarity).")
    normalized: float = Field(description="The score min-max normalised over the list's "
                              "candidates (what `weighted` fusion adds up).", examples=[0.72])


class SemanticHit(SearchHit):
    score: float = Field(description="Cosine similarity (or negative distance).", examples=[0.83])
    distance: float = Field(description="The space's distance between query and passage; "
                            "lower is closer.", examples=[0.17])
    text: str | None = Field(default=None, description="The matching passage, or the statement.")


class SemanticResponse(ResponseModel):
    hits: list[SemanticHit] = Field(description="The hits, closest first.")
    space: str = Field(description="The embedding space searched.", examples=["local-e5-small"])


class HybridHit(SearchHit):
    score: float = Field(description="Fused score: weighted sum of the lists' normalised "
                         "scores (`weighted`), or of weight / (rrf_k + rank) (`rrf`).")
    text: ListPosition | None = Field(description="Position in the full-text list, if any.")
    semantic: ListPosition | None = Field(description="Position in the semantic list, if any.")
    snippet: str | None = Field(default=None, description="Fragments with matches marked "
                                "«…», when the full-text list found it.")
    matches: list[TextMatch] | None = Field(default=None, description="Matched words' "
                                            "offsets, when the full-text list found it.")


class HybridResponse(ResponseModel):
    hits: list[HybridHit] = Field(description="The hits, best fused score first.")
    query: str = Field(description="The query as sent.")
    space: str = Field(description="The embedding space of the semantic list.",
                       examples=["local-e5-small"])
    language: str = Field(description="The text search configuration of the full-text list.",
                          examples=["english"])
    match: Literal["all", "any", "all_then_any"] = Field(
        description="The text list's semantics.")
    fusion: Literal["weighted", "rrf"] = Field(description="How the two lists were fused.",
                                               examples=["weighted"])
    rrf_k: float = Field(description="The RRF constant used (fusion `rrf`).", examples=[60])
    weights: dict[str, float] = Field(description="The weight of each list, `text` and "
                                      "`semantic`.", examples=[{"text": 0.4, "semantic": 0.6}])


def _embedding_state(request: Request):
    state = request.app.state
    return getattr(state, "embedding_provider", None), getattr(state, "embedding_space", None)


@router.post("/semantic", summary="Semantic search", response_model=SemanticResponse,
             responses=errors(400, 404))
async def search_semantic(body: SemanticQuery, request: Request, conn: Conn):
    """Nearest neighbours in an embedding space (HNSW): by `query` text, embedded by the
    configured provider, or by a `vector` of the space's dimension. Versions are found
    through their chunks (the best chunk is returned as `span`). Same filters as full-text
    search, plus `space` and `ef_search`. 503 when the embedding provider is unreachable
    (full-text search keeps working)."""
    provider, space = _embedding_state(request)
    return json_response(await semantic_search(conn, body, provider, space))


@router.post("/hybrid", summary="Hybrid search (full-text + semantic, fused)", response_model=HybridResponse,
             responses=errors(400, 404))
async def search_hybrid(body: HybridQuery, request: Request, conn: Conn):
    """Full-text (BM25, with the text options `match` and `language`) and semantic search,
    fused: by default a weighted sum of each list's min-max normalised scores (weights
    fitted on dev sets); `fusion: rrf` gives reciprocal rank fusion. Each hit shows its
    rank, score and normalised score in each list, its snippet and match offsets, and its
    passage (`span`)."""
    provider, space = _embedding_state(request)
    settings = request.app.state.settings
    return json_response(await hybrid_search(
        conn, body, provider, space,
        default_language=getattr(settings, "search_language", text.DEFAULT_LANGUAGE),
        spare=getattr(request.app.state.pool, "spare_connection", None)))
