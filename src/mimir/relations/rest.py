"""REST shim for relations, their traversal, and the relations of one artifact."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from mimir.entities import EntityType
from mimir.provenance.rest import provenance_headers
from mimir.provenance.service import ProvenanceIn, merge_provenance
from mimir.relations import service
from mimir.relations.service import (
    DEFAULT_TRAVERSAL_DEPTH,
    DEFAULT_TRAVERSAL_LIMIT,
    MAX_TRAVERSAL_DEPTH,
    MAX_TRAVERSAL_LIMIT,
    RELATION_FIELDS,
    Direction,
    RelationCreate,
)
from mimir.rest.deps import ArtifactId, Conn, Fields, FilterParams, Paging, RelationId
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import CursorPage, errors, json_response, page_body, select_fields

router = APIRouter(prefix="/api/v1/relations", tags=["relations"])
# GET /api/v1/artifacts/{artifact_id}/relations lives here, next to the other relation
# listings; app.py registers this router alongside `router`.
artifact_relations_router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
HeaderProvenance = Annotated[ProvenanceIn | None, Depends(provenance_headers)]

# Query parameters of the listings that select an entity rather than filter columns.
_ENTITY_PARAMS = frozenset({"entity_type", "entity_id", "direction"})

EXAMPLE_ID = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"

# The HTTP server refuses a request line over 64 KiB with a bare 400 before Mímir sees it,
# and a character percent-encodes to up to 12 bytes: 5000 characters (60 000 bytes) leave
# room for the other parameters, so a longer value is always our 422.
RELATION_TYPES_MAX_CHARS = 5000


class RelationOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the relation.")
    source_type: EntityType = Field(description="Type of the source entity.", examples=["intent"])
    source_id: uuid.UUID = Field(description="Id of the source entity.", examples=[EXAMPLE_ID])
    relation_type: str = Field(description="What the edge means.", examples=["derived_from"])
    target_type: EntityType = Field(description="Type of the target entity.", examples=["span"])
    target_id: uuid.UUID = Field(description="Id of the target entity.")
    metadata: dict[str, Any] = Field(description="Free-form JSON object.")
    created_at: datetime = Field(description="When the relation was created.")


class RelationPage(CursorPage):
    items: list[RelationOut] = Field(description="This page of relations.")


class NodeOut(ResponseModel):
    type: EntityType = Field(description="Type of the entity.", examples=["intent"])
    id: uuid.UUID = Field(description="Id of the entity.", examples=[EXAMPLE_ID])


class PathRelationOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the relation.")
    relation_type: str = Field(description="What the edge means.", examples=["derived_from"])
    source_type: EntityType = Field(description="Type of its source entity.")
    source_id: uuid.UUID = Field(description="Id of its source entity.")
    target_type: EntityType = Field(description="Type of its target entity.")
    target_id: uuid.UUID = Field(description="Id of its target entity.")


class PathOut(ResponseModel):
    depth: int = Field(description="Number of relations on the path.", examples=[2])
    nodes: list[NodeOut] = Field(description="The entities along the path, starting with the "
                                 "start entity; depth + 1 of them, none repeated.")
    relations: list[PathRelationOut] = Field(description="The relations walked, in order; "
                                             "relations[i] joins nodes[i] and nodes[i + 1].")


class TraversalOut(ResponseModel):
    paths: list[PathOut] = Field(description="Paths ordered by depth, then by path.")
    truncated: bool = Field(description="True when more paths exist than were returned.")


DirectionQuery = Annotated[Direction | None, Query(
    description="With entity_type and entity_id: relations going out of the entity (it is "
    "the source), coming in (it is the target), or both (the default).")]


@router.post("", status_code=201, summary="Create a relation", response_model=RelationOut,
             responses=errors(400, 409))
async def create_relation(body: RelationCreate, conn: Conn, headers: HeaderProvenance):
    """Create a typed edge `source --relation_type--> target` between any two entities, with
    optional provenance (body `provenance` or `X-Provenance-*` headers). Both ends must
    exist (422 naming the missing end, `details.end`); an entity cannot be related to
    itself (422); the same (source, relation_type, target) twice is a 409."""
    relation = await service.create_relation(
        conn, body, provenance=merge_provenance(headers, body.provenance))
    return json_response(relation, status_code=201)


@router.get("", summary="List relations", response_model=RelationPage, responses=errors(400))
async def list_relations(
    conn: Conn, page: Paging, filters: FilterParams, fields: Fields,
    entity_type: Annotated[EntityType | None, Query(
        description="With entity_id: only relations that have this entity at an end.")] = None,
    entity_id: Annotated[uuid.UUID | None, Query(description="See entity_type.")] = None,
    direction: DirectionQuery = None,
):
    """A page of relations, oldest first. `entity_type` + `entity_id` (+ `direction`
    out|in|both) select the relations of one entity. Filters: `source_type`, `source_id`,
    `target_type`, `target_id`, `relation_type`, `id`, `created_at` with
    `__eq|ne|lt|lte|gt|gte|in|icontains` where it applies, and `metadata__<key>=value`,
    `metadata__contains={json}`."""
    result = await service.list_relations(
        conn, {k: v for k, v in filters.items() if k not in _ENTITY_PARAMS}, page,
        entity_type=entity_type, entity_id=entity_id, direction=direction)
    return json_response(page_body(result, select_fields(result.items, fields, RELATION_FIELDS)))


@router.get("/traverse", summary="Walk relations from an entity", response_model=TraversalOut,
            responses=errors(404))
async def traverse(
    conn: Conn,
    from_type: Annotated[EntityType, Query(description="Type of the start entity.")],
    from_id: Annotated[uuid.UUID, Query(description="Id of the start entity.")],
    relation_types: Annotated[str | None, Query(
        description=f"Comma-separated relation types to follow (at most "
        f"{service.MAX_RELATION_TYPES}, {RELATION_TYPES_MAX_CHARS} characters in all); all "
        "when left out.",
        max_length=RELATION_TYPES_MAX_CHARS, examples=["derived_from,supports"])] = None,
    direction: Annotated[Direction, Query(
        description="Follow relations out of each node (out), into it (in), or both.")]
        = Direction.OUT,
    max_depth: Annotated[int, Query(
        description=f"Longest path, in relations (1 to {MAX_TRAVERSAL_DEPTH}).")]
        = DEFAULT_TRAVERSAL_DEPTH,
    limit: Annotated[int, Query(
        description=f"Most paths to return (1 to {MAX_TRAVERSAL_LIMIT}).")]
        = DEFAULT_TRAVERSAL_LIMIT,
):
    """Every path of 1 to `max_depth` relations starting at one entity (which must exist),
    ordered by depth and then by path. No path visits an entity twice, so cycles end. When
    more than `limit` paths exist, the first `limit` are returned with `truncated: true`
    (also when the graph is too dense to enumerate every path)."""
    result = await service.traverse(
        conn, from_type, from_id, relation_types=service.parse_relation_types(relation_types),
        direction=direction, max_depth=max_depth, limit=limit)
    return json_response(result)


@router.get("/{relation_id}", summary="Get a relation", response_model=RelationOut,
            responses=errors(404))
async def get_relation(relation_id: RelationId, conn: Conn):
    """One relation."""
    return json_response(await service.get_relation(conn, relation_id))


@router.delete("/{relation_id}", status_code=204, summary="Delete a relation",
               response_class=Response, responses=errors(404))
async def delete_relation(relation_id: RelationId, conn: Conn):
    """Delete a relation. Relations that point at it (to or from the relation itself) and
    its provenance are deleted with it."""
    await service.delete_relation(conn, relation_id)
    return Response(status_code=204)


@artifact_relations_router.get(
    "/{artifact_id}/relations", summary="List the relations of an artifact",
    response_model=RelationPage, responses=errors(400, 404))
async def list_artifact_relations(artifact_id: ArtifactId, conn: Conn, page: Paging,
                                  filters: FilterParams, fields: Fields,
                                  direction: DirectionQuery = None):
    """A page of relations that have the artifact at either end (`direction=both`, the
    default), as source (`out`) or as target (`in`), oldest first. Takes the filters of
    `GET /api/v1/relations`."""
    result = await service.list_artifact_relations(
        conn, artifact_id, {k: v for k, v in filters.items() if k != "direction"}, page, direction)
    return json_response(page_body(result, select_fields(result.items, fields, RELATION_FIELDS)))
