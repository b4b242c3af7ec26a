"""GraphQL types. Each is built from a row by the read model's stored fields (`FromRow`)
and follows its links through the request's dataloaders as the model says (`follow`), so a
nested query runs one statement per level, not per parent. The annotations here type the
schema; what is read, from where and in which order is graphql/model.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Union

import strawberry
from strawberry.scalars import JSON

from mimir.entities import ENTITIES, EntityType
from mimir.graphql.context import Info
from mimir.graphql.enums import (
    ArtifactKind,
    DecisionStatus,
    Direction,
    EmbeddingDistance,
    IntentGroupStatus,
    IntentStatus,
)
from mimir.graphql.model import TYPES

Row = dict[str, Any]


class FromRow:
    """Builds a type from a loader or service row: each stored field of the read model
    (graphql/model.py) from its column."""

    @classmethod
    def from_row(cls, row: Row) -> Any:
        return cls(**{s.attribute: s.convert(row[s.column]) for s in TYPES[cls.__name__].stored})


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
class Artifact(Linked, FromRow):
    id: uuid.UUID
    kind: ArtifactKind
    title: str | None
    source: str
    external_id: str | None
    metadata: JSON
    created_at: datetime

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
class ArtifactVersion(Linked, FromRow):
    id: uuid.UUID
    artifact_id: uuid.UUID
    version_number: int
    content_hash: str = strawberry.field(description="SHA-256 of the UTF-8 content, hex.")
    content_length: int = strawberry.field(description="Length in Unicode code points.")
    metadata: JSON
    created_at: datetime

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
class Span(Linked, FromRow):
    id: uuid.UUID
    version_id: uuid.UUID
    artifact_id: uuid.UUID
    start_offset: int = strawberry.field(description="First character (Unicode code points).")
    end_offset: int = strawberry.field(description="End, exclusive (code points).")
    span_type: str
    label: str | None
    metadata: JSON
    created_at: datetime
    # Read with the span (substr in SQL), so it costs no resolver call or statement.
    text: str = strawberry.field(description="The covered text: content[startOffset:endOffset].")

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
class Intent(Linked, FromRow):
    id: uuid.UUID
    statement: str
    status: IntentStatus
    group_id: uuid.UUID | None
    confidence: float | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    async def group(self, info: Info) -> IntentGroup | None:
        return await follow(info, self, "group")


@strawberry.type(description="A group of related intents; merged groups point at the survivor.")
class IntentGroup(Linked, FromRow):
    id: uuid.UUID
    name: str
    description: str | None
    status: IntentGroupStatus
    merged_into_id: uuid.UUID | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Member intents, oldest first.")
    async def intents(self, info: Info) -> list[Intent]:
        return await follow(info, self, "intents")

    @strawberry.field(description="The group this one was merged into, if merged.")
    async def merged_into(self, info: Info) -> IntentGroup | None:
        return await follow(info, self, "mergedInto")


@strawberry.type(description="A decision; superseding links old and new both ways.")
class Decision(Linked, FromRow):
    id: uuid.UUID
    statement: str
    rationale: str | None
    status: DecisionStatus
    superseded_by_id: uuid.UUID | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime

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
class Relation(Linked, FromRow):
    id: uuid.UUID
    relation_type: str
    source_type: EntityType
    source_id: uuid.UUID
    target_type: EntityType
    target_id: uuid.UUID
    metadata: JSON
    created_at: datetime

    @strawberry.field
    async def source(self, info: Info) -> Entity | None:
        return await load_entity(info, self.source_type.value, self.source_id)

    @strawberry.field
    async def target(self, info: Info) -> Entity | None:
        return await load_entity(info, self.target_type.value, self.target_id)


@strawberry.type(description="How an entity was produced: model, prompt, pipeline, evidence.")
class Provenance(FromRow):
    id: uuid.UUID
    target_type: EntityType
    target_id: uuid.UUID
    model: str | None
    prompt_version: str | None
    pipeline_version: str | None
    parameters: JSON
    evidence_span_ids: list[uuid.UUID]
    created_at: datetime

    @strawberry.field(description="The entity this record describes.")
    async def target(self, info: Info) -> Entity | None:
        return await load_entity(info, self.target_type.value, self.target_id)

    @strawberry.field(description="The evidence spans, in the order given.")
    async def evidence(self, info: Info) -> list[Span]:
        rows = await info.context.loaders.span.load_many(self.evidence_span_ids)
        return [Span.from_row(r) for r in rows if r is not None]


@strawberry.type(description="A named vector space: model, dimensions and distance.")
class EmbeddingSpace(FromRow):
    id: uuid.UUID
    name: str
    model: str
    dimensions: int
    distance: EmbeddingDistance
    metadata: JSON
    created_at: datetime


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
