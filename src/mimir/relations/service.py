"""Relations: typed edges between any two entities, and multi-hop traversal over them.

Rules: both ends must exist (checked here with a message naming the missing end, and again
by a trigger); an entity cannot be related to itself; an edge (source, relation_type,
target) exists at most once; deleting a relation also deletes the relations that point at
it and its provenance (a trigger). Traversal walks paths of at most MAX_TRAVERSAL_DEPTH
relations, never visiting a node twice within one path.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Any

import orjson
from psycopg import AsyncConnection
from pydantic import Field

from mimir.db.errors import translate_errors
from mimir.db.queries import queries
from mimir.entities import EntityType, ensure_exists
from mimir.errors import Conflict, Invalid, NotFound
from mimir.provenance.service import BodyProvenance, ProvenanceIn, record_provenance
from mimir.query.filters import (
    Conditions,
    FilterSet,
    enum_field,
    parse_filters,
    text_field,
    timestamp_field,
    uuid_field,
)
from mimir.query.listing import Page, fetch_page
from mimir.query.pagination import PageRequest
from mimir.validation import Identifier, Metadata, StrictModel

MAX_TRAVERSAL_DEPTH = 10
DEFAULT_TRAVERSAL_DEPTH = 3
DEFAULT_TRAVERSAL_LIMIT = 100
MAX_TRAVERSAL_LIMIT = 1000
# Paths generated at most per traversal, whatever the limit: a dense graph has
# exponentially many paths, and this bounds the database's work.
TRAVERSAL_WORK_LIMIT = 50_000
MAX_RELATION_TYPES = 100
_RELATION_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Direction(StrEnum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


class RelationCreate(StrictModel):
    source_type: EntityType = Field(description="Type of the source entity.", examples=["intent"])
    source_id: uuid.UUID = Field(description="Id of the source entity.",
                                 examples=["6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"])
    relation_type: Identifier = Field(description="What the edge means; lower-case letters, "
                                      "digits and _ (^[a-z][a-z0-9_]{0,63}$).",
                                      examples=["derived_from"])
    target_type: EntityType = Field(description="Type of the target entity.", examples=["span"])
    target_id: uuid.UUID = Field(description="Id of the target entity.",
                                 examples=["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object.",
                               examples=[{"confidence": 0.9}])
    provenance: BodyProvenance = None


RELATION_FILTERS = FilterSet({
    "id": uuid_field("id"),
    "source_type": enum_field("source_type", [t.value for t in EntityType]),
    "source_id": uuid_field("source_id"),
    "relation_type": text_field("relation_type"),
    "target_type": enum_field("target_type", [t.value for t in EntityType]),
    "target_id": uuid_field("target_id"),
    "created_at": timestamp_field("created_at"),
})
RELATION_FIELDS = ("id", "source_type", "source_id", "relation_type", "target_type", "target_id",
                   "metadata", "created_at")

_LIST_BY_DIRECTION = {
    Direction.OUT: queries.relations_list_out,
    Direction.IN: queries.relations_list_in,
    Direction.BOTH: queries.relations_list_both,
}


def _describe(end: str, entity_type: EntityType, entity_id: uuid.UUID) -> str:
    return f"relation {end} {entity_type.value} {entity_id}"


async def create_relation(conn: AsyncConnection, data: RelationCreate,
                          provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Create a relation (with optional provenance, in one transaction)."""
    if data.source_type == data.target_type and data.source_id == data.target_id:
        raise Invalid(f"a relation cannot connect an entity to itself: source and target are "
                      f"both {data.source_type.value} {data.source_id}",
                      details={"constraint": "ck_relations_not_self_loop"})
    ends = {"source_type": data.source_type.value, "source_id": data.source_id,
            "target_type": data.target_type.value, "target_id": data.target_id}
    async with conn.transaction():
        relation_ends = [i for t, i in ((data.source_type, data.source_id),
                                        (data.target_type, data.target_id))
                         if t is EntityType.RELATION]
        if relation_ends:
            await queries.relations_lock_ends(conn, ids=relation_ends)
        exists = await queries.relations_check_ends_exist(conn, **ends)
        missing = [(end, t, i) for end, t, i, ok in (
            ("source", data.source_type, data.source_id, exists["source_exists"]),
            ("target", data.target_type, data.target_id, exists["target_exists"])) if not ok]
        if missing:
            raise Invalid(
                "; ".join(f"{_describe(end, t, i)} does not exist" for end, t, i in missing),
                details={"end": "both" if len(missing) == 2 else missing[0][0],
                         "missing": [{"end": end, "entity_type": t.value, "entity_id": str(i)}
                                     for end, t, i in missing]})
        with translate_errors():
            relation = await queries.relations_insert(
                conn, **ends, relation_type=data.relation_type,
                metadata=orjson.dumps(data.metadata).decode())
        if relation is None:
            existing = await queries.relations_get_id_by_edge(
                conn, **ends, relation_type=data.relation_type)
            existing_id = str(existing["id"]) if existing else None
            raise Conflict(
                f"relation {data.relation_type!r} from {data.source_type.value} {data.source_id} "
                f"to {data.target_type.value} {data.target_id} already exists"
                + (f" (id {existing_id})" if existing_id else ""),
                details={"constraint": "uq_relations_edge", "existing_id": existing_id})
        await record_provenance(conn, EntityType.RELATION, relation["id"], provenance)
    return relation


async def get_relation(conn: AsyncConnection, relation_id: uuid.UUID) -> dict[str, Any]:
    relation = await queries.relations_get(conn, id=relation_id)
    if relation is None:
        raise NotFound(f"relation {relation_id} does not exist")
    return relation


async def delete_relation(conn: AsyncConnection, relation_id: uuid.UUID) -> None:
    """Delete a relation; relations to or from it and its provenance go with it."""
    with translate_errors():
        deleted = await queries.relations_delete(conn, id=relation_id)
    if deleted is None:
        raise NotFound(f"relation {relation_id} does not exist")


async def list_relations(conn: AsyncConnection, filters: dict[str, str], page: PageRequest, *,
                         entity_type: EntityType | None = None,
                         entity_id: uuid.UUID | None = None,
                         direction: Direction | None = None) -> Page:
    """A filtered page of relations in (created_at, id) order; with an entity, only those
    where it is the source (out), the target (in) or either end (both, the default)."""
    if (entity_type is None) != (entity_id is None):
        raise Invalid("entity_type and entity_id go together: give both to list the relations "
                      "of one entity, or neither",
                      details={"parameter": "entity_type" if entity_type is None else "entity_id"})
    if direction is not None and entity_type is None:
        raise Invalid("direction needs entity_type and entity_id", details={"parameter": "direction"})
    conditions = Conditions()
    parse_filters(filters, RELATION_FILTERS, conditions)
    if entity_type is None:
        return await fetch_page(conn, queries.relations_list.sql, {}, conditions, page)
    base = _LIST_BY_DIRECTION[direction or Direction.BOTH]
    return await fetch_page(conn, base.sql, {"entity_type": entity_type.value, "entity_id": entity_id},
                            conditions, page)


async def list_artifact_relations(conn: AsyncConnection, artifact_id: uuid.UUID,
                                  filters: dict[str, str], page: PageRequest,
                                  direction: Direction | None = None) -> Page:
    """Relations with the artifact at either end (or one end, by direction)."""
    await ensure_exists(conn, EntityType.ARTIFACT, artifact_id)
    return await list_relations(conn, filters, page, entity_type=EntityType.ARTIFACT,
                                entity_id=artifact_id, direction=direction or Direction.BOTH)


def parse_relation_types(raw: str | None) -> list[str] | None:
    """`a,b,c` -> ["a", "b", "c"]; None means every relation type."""
    if raw is None:
        return None
    names = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not names:
        raise Invalid("relation_types must name at least one relation type (or be left out for "
                      "all)", details={"parameter": "relation_types"})
    if len(names) > MAX_RELATION_TYPES:
        raise Invalid(f"relation_types may name at most {MAX_RELATION_TYPES} types",
                      details={"parameter": "relation_types"})
    bad = [name for name in names if not _RELATION_TYPE.match(name)]
    if bad:
        raise Invalid(f"relation_types: {', '.join(map(repr, bad))} do not match "
                      "^[a-z][a-z0-9_]{0,63}$", details={"parameter": "relation_types"})
    return names


async def traverse(conn: AsyncConnection, from_type: EntityType, from_id: uuid.UUID, *,
                   relation_types: list[str] | None = None, direction: Direction = Direction.OUT,
                   max_depth: int = DEFAULT_TRAVERSAL_DEPTH, limit: int = DEFAULT_TRAVERSAL_LIMIT,
                   depth_cap: int = MAX_TRAVERSAL_DEPTH) -> dict[str, Any]:
    """Paths of 1..max_depth relations from one entity, by (depth, path); at most `limit`
    of them, `truncated` when more exist."""
    if not 1 <= max_depth <= depth_cap:
        raise Invalid(f"max_depth must be between 1 and {depth_cap} (the traversal depth cap); "
                      f"got {max_depth}", details={"parameter": "max_depth", "max": depth_cap})
    if not 1 <= limit <= MAX_TRAVERSAL_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_TRAVERSAL_LIMIT}; got {limit}",
                      details={"parameter": "limit", "max": MAX_TRAVERSAL_LIMIT})
    await ensure_exists(conn, from_type, from_id, role="traversal start")
    rows = [row async for row in queries.relations_traverse(
        conn, from_type=from_type.value, from_id=from_id, direction=direction.value,
        relation_types=relation_types, max_depth=max_depth, work_limit=TRAVERSAL_WORK_LIMIT,
        path_limit=limit + 1)]
    capped = bool(rows and rows[0]["capped"])
    paths = [{"depth": row["depth"], "nodes": row["nodes"], "relations": row["relations"]}
             for row in rows if row["depth"] is not None]
    return {"paths": paths[:limit], "truncated": capped or len(paths) > limit}
