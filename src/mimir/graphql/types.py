"""GraphQL types. Each is built from a row by the read model's stored fields (`FromRow`)
and follows its links through the request's dataloaders as the model says (`follow`), so a
nested query runs one statement per level, not per parent. The stored (scalar) fields of
each type are declared from the model (`stored_fields`); the classes here add the fields
with resolvers."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Union

import strawberry
from strawberry.scalars import JSON

from mimir.entities import ENTITIES, EntityType
from mimir.graphql.context import Info
from mimir.graphql.enums import (
    Direction,
)
from mimir.graphql.model import TYPES

Row = dict[str, Any]


# The Python type of each render kind of the read model.
_PYTHON_TYPES: dict[str, Any] = {"uuid": uuid.UUID, "text": str, "int": int, "float": float,
                                 "time": datetime, "json": JSON, "uuid_list": list[uuid.UUID]}


def stored_fields(cls: type) -> type:
    """Declares the read model's stored fields of a type on its class (annotations and
    descriptions, in the model's order), for `strawberry.type` to read."""
    annotations: dict[str, Any] = {}
    for field in TYPES[cls.__name__].stored:
        python_type = field.enum or _PYTHON_TYPES[field.kind]
        annotations[field.attribute] = python_type | None if field.null else python_type
        if field.description or field.deprecated:
            setattr(cls, field.attribute, strawberry.field(
                description=field.description, deprecation_reason=field.deprecated))
    cls.__annotations__ = {**annotations, **cls.__dict__.get("__annotations__", {})}
    return cls


class FromRow:
    """Builds a type from a loader or service row: each stored field of the read model
    (graphql/model.py) from its column."""

    @classmethod
    def from_row(cls, row: Row) -> Any:
        return cls(**{attribute: row[column] if convert is None else convert(row[column])
                      for attribute, column, convert in _row_fields(cls.__name__)})


@cache
def _row_fields(type_name: str) -> tuple[tuple[str, str, Any], ...]:
    """(attribute, column, conversion or None) of each stored field of a type."""
    return tuple((s.attribute, s.column, s.convert if s.enum or s.kind == "uuid_list" else None)
                 for s in TYPES[type_name].stored)



async def follow(info: Info, parent: Any, name: str) -> Any:
    """A link of the read model through its dataloader: the rows for the parent's key, as
    a list, the one row, or the last row in the link's order."""
    model = TYPES[type(parent).__name__]
    link = model.links[name]
    key = (model.entity_type.value, parent.id) if link.key == "entity" else getattr(parent, link.key)
    if key is None:
        return None
    loaded = await getattr(info.context.loaders, link.loader).load(key)
    cls = CLASSES[link.target]
    if link.pick == "all":
        return [cls.from_row(row) for row in loaded]
    if link.pick == "last":
        loaded = loaded[-1] if loaded else None
    return cls.from_row(loaded) if loaded else None


async def _version_numbered(info: Info, parent: Any, link: str, number: int) -> Any:
    """The version with this number among the rows of a `match` link's loader."""
    spec = TYPES[type(parent).__name__].links[link]
    rows = await getattr(info.context.loaders, spec.loader).load(getattr(parent, spec.key))
    return next((ArtifactVersion.from_row(r) for r in rows if r["version_number"] == number), None)


def _relations(relations: list[Relation], entity: tuple[str, uuid.UUID], direction: Direction,
               types: list[str] | None) -> list[Relation]:
    kept = []
    for relation in relations:
        is_out = (relation.source_type.value, relation.source_id) == entity
        is_in = (relation.target_type.value, relation.target_id) == entity
        if direction is Direction.OUT and not is_out or direction is Direction.IN and not is_in:
            continue
        if types and relation.relation_type not in types:
            continue
        kept.append(relation)
    return kept


@strawberry.interface(description="An entity that relations and provenance can point at.")
class Linked:
    """Relations and provenance, shared by every entity type (resolved per type key)."""

    id: uuid.UUID

    @strawberry.field(description="Relations with this entity at either end (or one way).")
    async def relations(self, info: Info, direction: Direction = Direction.BOTH,
                        relation_types: list[str] | None = None) -> list[Relation]:
        key = (TYPES[type(self).__name__].entity_type.value, self.id)
        return _relations(await follow(info, self, "relations"), key, direction, relation_types)

    @strawberry.field(description="How this entity was produced, with its evidence spans.")
    async def provenance(self, info: Info) -> list[Provenance]:
        return await follow(info, self, "provenance")


@strawberry.type(description="A conversation, document or note, with append-only versions.")
@stored_fields
class Artifact(Linked, FromRow):
    @strawberry.field(description="Every version, oldest first.")
    async def versions(self, info: Info) -> list[ArtifactVersion]:
        return await follow(info, self, "versions")

    @strawberry.field(description="The newest version.")
    async def latest_version(self, info: Info) -> ArtifactVersion | None:
        return await follow(info, self, "latestVersion")

    @strawberry.field(description="The version with this number, if it exists.")
    async def version_at(self, info: Info, number: int) -> ArtifactVersion | None:
        return await _version_numbered(info, self, "versions", number)


@strawberry.type(description="One immutable version of an artifact.")
@stored_fields
class ArtifactVersion(Linked, FromRow):
    @strawberry.field(description="The full text of this version.")
    async def content(self, info: Info) -> str:
        return (await info.context.loaders.version_content.load(self.id))["content"]

    @strawberry.field
    async def artifact(self, info: Info) -> Artifact:
        return await follow(info, self, "artifact")

    @strawberry.field(description="Spans of this version, in offset order.")
    async def spans(self, info: Info) -> list[Span]:
        return await follow(info, self, "spans")

    @strawberry.field(description="The version before this one, if any.")
    async def previous(self, info: Info) -> ArtifactVersion | None:
        return await _version_numbered(info, self, "previous", self.version_number - 1)

    @strawberry.field(description="The version after this one, if any.")
    async def next(self, info: Info) -> ArtifactVersion | None:
        return await _version_numbered(info, self, "next", self.version_number + 1)


@strawberry.type(description="An exact character range [startOffset, endOffset) of one version.")
@stored_fields
class Span(Linked, FromRow):
    @strawberry.field
    async def version(self, info: Info) -> ArtifactVersion:
        return await follow(info, self, "version")

    @strawberry.field
    async def artifact(self, info: Info) -> Artifact:
        return await follow(info, self, "artifact")

    @strawberry.field(description="Provenance records that cite this span as evidence; their "
                      "`target` is what the span supports.")
    async def cited_by(self, info: Info) -> list[Provenance]:
        return await follow(info, self, "citedBy")


@strawberry.type(description="Something a person or agent wants, derived from artifacts.")
@stored_fields
class Intent(Linked, FromRow):
    @strawberry.field
    async def group(self, info: Info) -> IntentGroup | None:
        return await follow(info, self, "group")


@strawberry.type(description="A group of related intents; merged groups point at the survivor.")
@stored_fields
class IntentGroup(Linked, FromRow):
    @strawberry.field(description="Member intents, oldest first.")
    async def intents(self, info: Info) -> list[Intent]:
        return await follow(info, self, "intents")

    @strawberry.field(description="The group this one was merged into, if merged.")
    async def merged_into(self, info: Info) -> IntentGroup | None:
        return await follow(info, self, "mergedInto")


@strawberry.type(description="A decision; superseding links old and new both ways.")
@stored_fields
class Decision(Linked, FromRow):
    @strawberry.field(description="The decision that replaced this one.")
    async def superseded_by(self, info: Info) -> Decision | None:
        return await follow(info, self, "supersededBy")

    @strawberry.field(description="The decision this one replaced.")
    async def supersedes(self, info: Info) -> Decision | None:
        return await follow(info, self, "supersedes")

    @strawberry.field(description="The whole supersession chain, oldest first.")
    async def lineage(self, info: Info) -> list[Decision]:
        from mimir.decisions.service import lineage

        async with info.context.reads.connection() as conn:
            chain = await lineage(conn, self.id)
        return [Decision.from_row(r) for r in chain["items"]]


@strawberry.type(description="A typed edge between two entities.")
@stored_fields
class Relation(Linked, FromRow):
    @strawberry.field
    async def source(self, info: Info) -> Entity | None:
        return await load_entity(info, self.source_type.value, self.source_id)

    @strawberry.field
    async def target(self, info: Info) -> Entity | None:
        return await load_entity(info, self.target_type.value, self.target_id)


@strawberry.type(description="How an entity was produced: model, prompt, pipeline, evidence.")
@stored_fields
class Provenance(FromRow):
    @strawberry.field(description="The entity this record describes.")
    async def target(self, info: Info) -> Entity | None:
        return await load_entity(info, self.target_type.value, self.target_id)

    @strawberry.field(description="The evidence spans, in the order given.")
    async def evidence(self, info: Info) -> list[Span]:
        rows = await info.context.loaders.span.load_many(self.evidence_span_ids)
        return [Span.from_row(r) for r in rows if r is not None]


@strawberry.type(description="A named vector space: model, dimensions and distance.")
@stored_fields
class EmbeddingSpace(FromRow):
    """Stored fields only (the read model's)."""


Entity = Annotated[
    Union[Artifact, ArtifactVersion, Span, Intent, IntentGroup, Decision, Relation],  # noqa: UP007
    strawberry.union("Entity", description="Any entity a relation or provenance can point at."),
]

# GraphQL type name -> its Strawberry class (the read model names types, not classes).
CLASSES: dict[str, Any] = {cls.__name__: cls for cls in (
    Artifact, ArtifactVersion, Span, Intent, IntentGroup, Decision, Relation, Provenance,
    EmbeddingSpace)}


async def load_entity(info: Info, entity_type: str, entity_id: uuid.UUID) -> Any:
    """Any entity by (type, id), through the loader of its type (mimir.entities); None when
    it is gone."""
    entity = ENTITIES[EntityType(entity_type)]
    row = await getattr(info.context.loaders, entity.loader).load(entity_id)
    return CLASSES[entity.graphql_type].from_row(row) if row is not None else None
