"""The query root: entities by id, Relay connections with the REST filters, traversal and
the provenance chain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from mimir.db.queries import queries
from mimir.errors import Invalid
from mimir.graphql.cited_context import ContextResult, run_context
from mimir.graphql.context import Info
from mimir.graphql.enums import SearchableType
from mimir.graphql.inputs import Connection, Edge, EntityRef, PageInfo, filter_params
from mimir.graphql.loaders import statement
from mimir.graphql.model import CONNECTIONS, ROOT_LISTS, TYPES
from mimir.graphql.search import (
    SearchHit,
    SearchMatch,
    SearchMode,
    run_search,
)
from mimir.graphql.types import (
    CLASSES,
    Artifact,
    ArtifactVersion,
    Decision,
    Direction,
    EmbeddingSpace,
    Entity,
    Intent,
    IntentGroup,
    Provenance,
    Relation,
    Span,
    load_entity,
)
from mimir.query.filters import Conditions, parse_filters
from mimir.query.listing import Page, fetch_page
from mimir.query.pagination import encode_cursor, page_request
from mimir.relations.service import parse_relation_types
from mimir.relations.service import traverse as traverse_relations

FILTER_DOC = ("The REST filter parameters as an object, e.g. "
              '{"status": "accepted", "created_at__gte": "2026-01-01T00:00:00Z"}.')


def _connection(page: Page, cls: Any) -> Connection:
    edges = [Edge(node=cls.from_row(row), cursor=encode_cursor(row)) for row in page.items]
    return Connection(edges=edges, page_info=PageInfo(
        has_next_page=page.has_more, end_cursor=edges[-1].cursor if edges else None))


async def _list(info: Info, name: str, first: int, after: str | None,
                filter: JSON | None) -> Connection:
    """A root connection as the read model describes it (listing query, filters): the
    same page the REST listing gives."""
    connection = CONNECTIONS[name]
    cap = info.context.settings.page_max_limit
    if not 1 <= first <= cap:
        raise Invalid(f"first must be between 1 and {cap}", details={"parameter": "first", "max": cap})
    page = page_request(first, after, None, cap)
    async with info.context.reads.connection() as conn:
        conditions = Conditions()
        parse_filters(filter_params(filter), connection.filters, conditions)
        listing = getattr(queries, connection.listing_query).sql
        result = await fetch_page(conn, listing, {}, conditions, page)
    return _connection(result, CLASSES[connection.node])


@strawberry.type(description="One path of a traversal: nodes and the relations between them.")
class TraversalPath:
    depth: int
    nodes: list[JSON]
    relations: list[JSON]

    @strawberry.field(description="The path's entities, resolved.")
    async def entities(self, info: Info) -> list[Entity | None]:
        return [await load_entity(info, n["type"], uuid.UUID(n["id"])) for n in self.nodes]


@strawberry.type(description="Result of a traversal.")
class Traversal:
    paths: list[TraversalPath]
    truncated: bool


@strawberry.type(description="One step of a provenance chain: an entity and one record of how "
                 "it was produced.")
class ProvenanceStep:
    depth: int = strawberry.field(description="0 for the entity asked about, 1 for what its "
                                  "evidence came from, and so on.")
    provenance: Provenance

    @strawberry.field
    async def target(self, info: Info) -> Entity | None:
        return await self.provenance.target(info)


@strawberry.type
class Query:
    @strawberry.field(description="An artifact by id.")
    async def artifact(self, info: Info, id: uuid.UUID) -> Artifact | None:
        return await load_entity(info, "artifact", id)

    @strawberry.field(description="An artifact version by id.")
    async def artifact_version(self, info: Info, id: uuid.UUID) -> ArtifactVersion | None:
        return await load_entity(info, "artifact_version", id)

    @strawberry.field(description="A span by id.")
    async def span(self, info: Info, id: uuid.UUID) -> Span | None:
        return await load_entity(info, "span", id)

    @strawberry.field(description="An intent by id.")
    async def intent(self, info: Info, id: uuid.UUID) -> Intent | None:
        return await load_entity(info, "intent", id)

    @strawberry.field(description="An intent group by id.")
    async def intent_group(self, info: Info, id: uuid.UUID) -> IntentGroup | None:
        return await load_entity(info, "intent_group", id)

    @strawberry.field(description="A decision by id.")
    async def decision(self, info: Info, id: uuid.UUID) -> Decision | None:
        return await load_entity(info, "decision", id)

    @strawberry.field(description="A relation by id.")
    async def relation(self, info: Info, id: uuid.UUID) -> Relation | None:
        return await load_entity(info, "relation", id)

    @strawberry.field(description="A provenance record by id.")
    async def provenance(self, info: Info, id: uuid.UUID) -> Provenance | None:
        row = await getattr(info.context.loaders, TYPES["Provenance"].by_id_loader).load(id)
        return Provenance.from_row(row) if row else None

    @strawberry.field(description="Any entity by type and id.")
    async def entity(self, info: Info, ref: EntityRef) -> Entity | None:
        return await load_entity(info, ref.type.value, ref.id)

    @strawberry.field(description="Artifacts, oldest first. " + FILTER_DOC)
    async def artifacts(self, info: Info, first: int = 50, after: str | None = None,
                        filter: JSON | None = None) -> Connection[Artifact]:
        return await _list(info, "artifacts", first, after, filter)

    @strawberry.field(description="Intents, oldest first. " + FILTER_DOC)
    async def intents(self, info: Info, first: int = 50, after: str | None = None,
                      filter: JSON | None = None) -> Connection[Intent]:
        return await _list(info, "intents", first, after, filter)

    @strawberry.field(description="Intent groups, oldest first. " + FILTER_DOC)
    async def intent_groups(self, info: Info, first: int = 50, after: str | None = None,
                            filter: JSON | None = None) -> Connection[IntentGroup]:
        return await _list(info, "intentGroups", first, after, filter)

    @strawberry.field(description="Decisions, oldest first. " + FILTER_DOC)
    async def decisions(self, info: Info, first: int = 50, after: str | None = None,
                        filter: JSON | None = None) -> Connection[Decision]:
        return await _list(info, "decisions", first, after, filter)

    @strawberry.field(description="Relations, oldest first. " + FILTER_DOC)
    async def relations(self, info: Info, first: int = 50, after: str | None = None,
                        filter: JSON | None = None) -> Connection[Relation]:
        return await _list(info, "relations", first, after, filter)

    @strawberry.field(description="Full-text, semantic or hybrid search over artifact versions, "
                      "intents and decisions (the REST search endpoints' rules and filters).")
    async def search(self, info: Info, query: str, mode: SearchMode = SearchMode.HYBRID,
                     entity_types: list[SearchableType] | None = None,
                     artifact_kinds: list[str] | None = None, sources: list[str] | None = None,
                     created_after: datetime | None = None, created_before: datetime | None = None,
                     latest_only: bool = True, limit: int = 20,
                     space: str | None = None, offset: int = 0,
                     match: SearchMatch = SearchMatch.AUTO) -> list[SearchHit]:
        return await run_search(info, query=query, mode=mode, entity_types=entity_types,
                                artifact_kinds=artifact_kinds, sources=sources,
                                created_after=created_after, created_before=created_before,
                                latest_only=latest_only, limit=limit, space=space,
                                offset=offset, match=match)

    @strawberry.field(description="A ready-to-paste context for a question within a token "
                      "budget, every piece cited (POST /api/v1/context's rules and filters).")
    async def context(self, info: Info, query: str, budget: int = 2000, hits: int = 20,
                      entity_types: list[SearchableType] | None = None,
                      artifact_kinds: list[str] | None = None, sources: list[str] | None = None,
                      created_after: datetime | None = None,
                      created_before: datetime | None = None,
                      latest_only: bool = True) -> ContextResult:
        return await run_context(info, query=query, budget=budget, hits=hits,
                                 entity_types=entity_types, artifact_kinds=artifact_kinds,
                                 sources=sources, created_after=created_after,
                                 created_before=created_before, latest_only=latest_only)

    @strawberry.field(description="Embedding spaces, by name.")
    async def embedding_spaces(self, info: Info) -> list[EmbeddingSpace]:
        type_name, _, query = ROOT_LISTS["embeddingSpaces"]
        async with info.context.reads.connection() as conn:
            cursor = await conn.execute(statement(query, type_name))
            return [EmbeddingSpace.from_row(r) for r in await cursor.fetchall()]

    @strawberry.field(description="Paths of relations from an entity (cycle-free, depth-capped).")
    async def traverse(self, info: Info, start: EntityRef, relation_types: list[str] | None = None,
                       direction: Direction = Direction.OUT, max_depth: int = 3,
                       limit: int = 100) -> Traversal:
        async with info.context.reads.connection() as conn:
            result = await traverse_relations(
                conn, start.type, start.id,
                relation_types=parse_relation_types(",".join(relation_types))
                if relation_types else None,
                direction=direction, max_depth=max_depth, limit=limit)
        return Traversal(truncated=result["truncated"], paths=[
            TraversalPath(depth=p["depth"], nodes=p["nodes"], relations=p["relations"])
            for p in result["paths"]])

    @strawberry.field(description="Where did this come from? The entity's provenance, then the "
                      "provenance of its evidence spans, their versions and artifacts, and so "
                      "on, breadth first, up to maxDepth levels.")
    async def provenance_chain(self, info: Info, target: EntityRef,
                               max_depth: int = 3) -> list[ProvenanceStep]:
        if not 0 <= max_depth <= 10:
            raise Invalid("maxDepth must be between 0 and 10", details={"parameter": "maxDepth"})
        loaders = info.context.loaders
        steps: list[ProvenanceStep] = []
        seen: set[tuple[str, uuid.UUID]] = set()
        frontier = [(target.type.value, target.id)]
        for depth in range(max_depth + 1):
            frontier = [key for key in dict.fromkeys(frontier) if key not in seen]
            seen.update(frontier)
            if not frontier:
                break
            records = await loaders.provenance_of.load_many(frontier)
            next_frontier: list[tuple[str, uuid.UUID]] = []
            evidence_ids = []
            for rows in records:
                for row in rows:
                    steps.append(ProvenanceStep(depth=depth, provenance=Provenance.from_row(row)))
                    evidence_ids += list(row["evidence_span_ids"])
            for span in await loaders.span.load_many(evidence_ids):
                if span is not None:
                    next_frontier += [("span", span["id"]), ("artifact_version", span["artifact_version_id"]),
                                      ("artifact", span["artifact_id"])]
            frontier = next_frontier
        return steps
