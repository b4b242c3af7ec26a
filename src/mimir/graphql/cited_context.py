"""GraphQL `context`: the REST context endpoint's pieces and packed text (same service,
same validation), for a query and a token budget."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from mimir.context.service import DEFAULT_BUDGET, ContextRequest, build_context
from mimir.graphql.context import Info
from mimir.graphql.enums import SearchableType
from mimir.search.text import DEFAULT_LANGUAGE


@strawberry.type(description="One piece of a packed context, with its citation (see POST "
                 "/api/v1/context for each field).")
class ContextPiece:
    marker: str = strawberry.field(description="The piece's citation line in the packed text.")
    entity_type: str = strawberry.field(description="artifact_version, intent or decision.")
    entity_id: uuid.UUID
    artifact_id: uuid.UUID | None
    version_id: uuid.UUID | None
    version_number: int | None
    title: str | None
    span_id: uuid.UUID | None = strawberry.field(description="The span the piece is exactly, "
                                                 "if it is one span (not merged, not cut).")
    span_ids: list[uuid.UUID] = strawberry.field(description="Every span the piece covers.")
    merged: bool
    start_offset: int | None = strawberry.field(description="Code-point offset in the version.")
    end_offset: int | None
    text: str = strawberry.field(description="The quoted text, exactly as stored.")
    status: str | None
    replaces: list[uuid.UUID] = strawberry.field(description="Superseded decisions this "
                                                 "current decision stands in for.")
    truncated: bool
    rank: int
    tokens: int


@strawberry.type(description="The tokenizer that counted the tokens.")
class ContextTokenizer:
    name: str
    exact: bool = strawberry.field(description="False when counts are an approximation.")
    note: str


@strawberry.type(description="What was found but not packed.")
class ContextLeftOut:
    superseded_decisions: int
    rejected_intents: int
    over_budget: int


@strawberry.type(description="A ready-to-paste context within a token budget.")
class ContextResult:
    query: str
    budget: int
    tokens_used: int = strawberry.field(description="Tokens of `text`; never above `budget`.")
    tokenizer: ContextTokenizer
    search_mode: str = strawberry.field(description="hybrid, or text without an embedding "
                                        "provider.")
    hits_considered: int
    pieces: list[ContextPiece]
    left_out: ContextLeftOut
    text: str = strawberry.field(description="The packed text: each piece under its marker.")


async def run_context(info: Info, *, query: str, budget: int = DEFAULT_BUDGET, hits: int = 20,
                      entity_types: list[SearchableType] | None = None,
                      artifact_kinds: list[str] | None = None, sources: list[str] | None = None,
                      created_after: datetime | None = None,
                      created_before: datetime | None = None,
                      latest_only: bool = True) -> ContextResult:
    fields = {"query": query, "budget": budget, "hits": hits, "artifact_kinds": artifact_kinds,
              "sources": sources, "created_after": created_after,
              "created_before": created_before, "latest_only": latest_only}
    if entity_types:
        fields["entity_types"] = [t.value for t in entity_types]
    request = ContextRequest(**fields)
    from mimir.embeddings import runtime

    rt = runtime.current()
    provider = rt.provider if rt else None
    default_space = rt.space["name"] if rt and rt.space else None
    language = getattr(info.context.settings, "search_language", DEFAULT_LANGUAGE)
    async with info.context.reads.connection() as conn:
        body = await build_context(conn, request, provider, default_space,
                                   default_language=language,
                                   spare=info.context.reads.spare_connection)
    return ContextResult(
        query=body["query"], budget=body["budget"], tokens_used=body["tokens_used"],
        tokenizer=ContextTokenizer(**body["tokenizer"]), search_mode=body["search_mode"],
        hits_considered=body["hits_considered"],
        pieces=[ContextPiece(**piece) for piece in body["pieces"]],
        left_out=ContextLeftOut(**body["left_out"]), text=body["text"])
