"""GraphQL `search`: the same three search modes as REST, returning hits with the entity
(union) and the matching span or match offsets."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from mimir.graphql.context import Info
from mimir.graphql.enums import SearchableType
from mimir.graphql.types import Entity, Span, load_entity
from mimir.search.hybrid import HybridQuery, hybrid_search
from mimir.search.semantic import SemanticQuery, semantic_search
from mimir.search.text import DEFAULT_LANGUAGE, TextSearchRequest, search_text


@strawberry.enum(description="How to search.")
class SearchMode(Enum):
    TEXT = "text"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


@strawberry.enum(description="Full-text semantics: AUTO treats a plain question as any-word "
                 "BM25 and a query with quotes or -excluded words as all-words.")
class SearchMatch(Enum):
    AUTO = "auto"
    ALL = "all"
    ANY = "any"


@strawberry.type(description="A matched word: code-point offsets into the named field.")
class TextMatch:
    field: str
    start_offset: int
    end_offset: int
    text: str


@strawberry.type(description="One search hit.")
class SearchHit:
    rank: int
    score: float
    entity_type: SearchableType
    entity_id: uuid.UUID
    snippet: str | None
    text_rank: int | None = strawberry.field(description="Rank in the full-text list (hybrid).")
    semantic_rank: int | None = strawberry.field(description="Rank in the semantic list (hybrid).")
    matches: list[TextMatch]
    span_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The entity found.")
    async def entity(self, info: Info) -> Entity | None:
        return await load_entity(info, self.entity_type.value, self.entity_id)

    @strawberry.field(description="The passage of a version hit: the message (conversations) "
                      "or chunk that matched.")
    async def span(self, info: Info) -> Span | None:
        if self.span_id is None:
            return None
        row = await info.context.loaders.span.load(self.span_id)
        return Span.from_row(row) if row else None


def _hit(raw: dict) -> SearchHit:
    span = raw.get("span")
    text_pos, semantic_pos = raw.get("text"), raw.get("semantic")
    return SearchHit(
        rank=raw["rank"], score=float(raw["score"]),
        entity_type=SearchableType(raw["entity_type"]), entity_id=raw["entity_id"],
        snippet=raw.get("snippet"),
        text_rank=text_pos["rank"] if isinstance(text_pos, dict) else None,
        semantic_rank=semantic_pos["rank"] if isinstance(semantic_pos, dict) else None,
        matches=[TextMatch(field=m["field"], start_offset=m["start_offset"],
                           end_offset=m["end_offset"], text=m["text"])
                 for m in raw.get("matches") or []],
        span_id=span["id"] if span else None)


async def run_search(info: Info, *, query: str, mode: SearchMode,
                     entity_types: list[SearchableType] | None, artifact_kinds: list[str] | None,
                     sources: list[str] | None, created_after: datetime | None,
                     created_before: datetime | None, latest_only: bool, limit: int,
                     space: str | None, offset: int = 0,
                     match: SearchMatch = SearchMatch.AUTO) -> list[SearchHit]:
    scope = {"latest_only": latest_only, "limit": limit, "offset": offset,
             "artifact_kinds": artifact_kinds, "sources": sources,
             "created_after": created_after, "created_before": created_before}
    if entity_types:
        scope["entity_types"] = [t.value for t in entity_types]
    state = info.context
    settings = state.settings
    language = getattr(settings, "search_language", DEFAULT_LANGUAGE)
    from mimir.embeddings import runtime

    rt = runtime.current()
    provider = rt.provider if rt else None
    default_space = rt.space["name"] if rt and rt.space else None
    async with state.reads.connection() as conn:
        if mode is SearchMode.TEXT:
            result = await search_text(conn, TextSearchRequest(query=query, match=match.value,
                                                               **scope),
                                       default_language=language)
        elif mode is SearchMode.SEMANTIC:
            result = await semantic_search(conn, SemanticQuery(query=query, space=space, **scope),
                                           provider, default_space)
        else:
            result = await hybrid_search(conn, HybridQuery(query=query, space=space,
                                                           match=match.value, **scope),
                                         provider, default_space, default_language=language,
                                         spare=state.reads.spare_connection)
    return [_hit(hit) for hit in result["hits"]]
