"""GraphQL types. Each carries its database row privately and resolves its links through
the request's dataloaders, so a nested query runs one statement per level, not per
parent."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Union

import strawberry
from strawberry.scalars import JSON

from mimir.graphql.context import Info

Row = dict[str, Any]


@strawberry.enum(description="Kinds of entity that relations, provenance and embeddings point at.")
class EntityType(Enum):
    ARTIFACT = "artifact"
    ARTIFACT_VERSION = "artifact_version"
    INTENT = "intent"
    INTENT_GROUP = "intent_group"
    DECISION = "decision"
    SPAN = "span"
    RELATION = "relation"


@strawberry.enum
class ArtifactKind(Enum):
    CONVERSATION = "conversation"
    DOCUMENT = "document"
    NOTE = "note"


@strawberry.enum
class IntentStatus(Enum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@strawberry.enum
class IntentGroupStatus(Enum):
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    MERGED = "merged"


@strawberry.enum
class DecisionStatus(Enum):
    TENTATIVE = "tentative"
    ACTIVE = "active"
    SUPERSEDED = "superseded"


@strawberry.enum
class EmbeddingDistance(Enum):
    COSINE = "cosine"
    L2 = "l2"
    INNER_PRODUCT = "inner_product"


@strawberry.enum(description="Which way to follow relations from an entity.")
class Direction(Enum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


def _relations(rows: list[Row], entity: tuple[str, uuid.UUID], direction: Direction,
               types: list[str] | None) -> list[Relation]:
    kept = []
    for row in rows:
        is_out = (row["source_type"], row["source_id"]) == entity
        is_in = (row["target_type"], row["target_id"]) == entity
        if direction is Direction.OUT and not is_out or direction is Direction.IN and not is_in:
            continue
        if types and row["relation_type"] not in types:
            continue
        kept.append(Relation.from_row(row))
    return kept


@strawberry.interface(description="An entity that relations and provenance can point at.")
class Linked:
    """Relations and provenance, shared by every entity type (resolved per type key)."""

    id: uuid.UUID
    _entity_type: strawberry.Private[str]

    @strawberry.field(description="Relations with this entity at either end (or one way).")
    async def relations(self, info: Info, direction: Direction = Direction.BOTH,
                        relation_types: list[str] | None = None) -> list[Relation]:
        key = (self._entity_type, self.id)
        return _relations(await info.context.loaders.relations_of.load(key), key, direction,
                          relation_types)

    @strawberry.field(description="How this entity was produced, with its evidence spans.")
    async def provenance(self, info: Info) -> list[Provenance]:
        rows = await info.context.loaders.provenance_of.load((self._entity_type, self.id))
        return [Provenance.from_row(r) for r in rows]


@strawberry.type(description="A conversation, document or note, with append-only versions.")
class Artifact(Linked):
    _entity_type: strawberry.Private[str] = "artifact"
    id: uuid.UUID
    kind: ArtifactKind
    title: str | None
    source: str
    external_id: str | None
    metadata: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Artifact:
        return cls(id=row["id"], kind=ArtifactKind(row["kind"]), title=row["title"],
                   source=row["source"], external_id=row["external_id"],
                   metadata=row["metadata"], created_at=row["created_at"])

    @strawberry.field(description="Every version, oldest first.")
    async def versions(self, info: Info) -> list[ArtifactVersion]:
        rows = await info.context.loaders.versions_of_artifact.load(self.id)
        return [ArtifactVersion.from_row(r) for r in rows]

    @strawberry.field(description="The newest version.")
    async def latest_version(self, info: Info) -> ArtifactVersion | None:
        rows = await info.context.loaders.versions_of_artifact.load(self.id)
        return ArtifactVersion.from_row(rows[-1]) if rows else None

    @strawberry.field(description="The version with this number, if it exists.")
    async def version_at(self, info: Info, number: int) -> ArtifactVersion | None:
        rows = await info.context.loaders.versions_of_artifact.load(self.id)
        return next((ArtifactVersion.from_row(r) for r in rows if r["version_number"] == number), None)




@strawberry.type(description="One immutable version of an artifact.")
class ArtifactVersion(Linked):
    _entity_type: strawberry.Private[str] = "artifact_version"
    id: uuid.UUID
    artifact_id: uuid.UUID
    version_number: int
    content_hash: str = strawberry.field(description="SHA-256 of the UTF-8 content, hex.")
    content_length: int = strawberry.field(description="Length in Unicode code points.")
    metadata: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> ArtifactVersion:
        return cls(id=row["id"], artifact_id=row["artifact_id"],
                   version_number=row["version_number"], content_hash=row["content_hash"],
                   content_length=row["content_length"], metadata=row["metadata"],
                   created_at=row["created_at"])

    @strawberry.field(description="The full text of this version.")
    async def content(self, info: Info) -> str:
        return (await info.context.loaders.version_content.load(self.id))["content"]

    @strawberry.field
    async def artifact(self, info: Info) -> Artifact:
        return Artifact.from_row(await info.context.loaders.artifact.load(self.artifact_id))

    @strawberry.field(description="Spans of this version, in offset order.")
    async def spans(self, info: Info) -> list[Span]:
        rows = await info.context.loaders.spans_of_version.load(self.id)
        return [Span.from_row(r) for r in rows]

    @strawberry.field(description="The version before this one, if any.")
    async def previous(self, info: Info) -> ArtifactVersion | None:
        return await self._sibling(info, self.version_number - 1)

    @strawberry.field(description="The version after this one, if any.")
    async def next(self, info: Info) -> ArtifactVersion | None:
        return await self._sibling(info, self.version_number + 1)

    async def _sibling(self, info: Info, number: int) -> ArtifactVersion | None:
        rows = await info.context.loaders.versions_of_artifact.load(self.artifact_id)
        return next((ArtifactVersion.from_row(r) for r in rows if r["version_number"] == number), None)




@strawberry.type(description="An exact character range [startOffset, endOffset) of one version.")
class Span(Linked):
    _entity_type: strawberry.Private[str] = "span"
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

    @classmethod
    def from_row(cls, row: Row) -> Span:
        return cls(id=row["id"], version_id=row["version_id"], artifact_id=row["artifact_id"],
                   start_offset=row["start_offset"], end_offset=row["end_offset"],
                   span_type=row["span_type"], label=row["label"], metadata=row["metadata"],
                   created_at=row["created_at"], text=row["text"])

    @strawberry.field
    async def version(self, info: Info) -> ArtifactVersion:
        return ArtifactVersion.from_row(await info.context.loaders.version.load(self.version_id))

    @strawberry.field
    async def artifact(self, info: Info) -> Artifact:
        return Artifact.from_row(await info.context.loaders.artifact.load(self.artifact_id))

    @strawberry.field(description="Provenance records that cite this span as evidence; their "
                      "`target` is what the span supports.")
    async def cited_by(self, info: Info) -> list[Provenance]:
        rows = await info.context.loaders.provenance_citing_span.load(self.id)
        return [Provenance.from_row(r) for r in rows]




@strawberry.type(description="Something a person or agent wants, derived from artifacts.")
class Intent(Linked):
    _entity_type: strawberry.Private[str] = "intent"
    id: uuid.UUID
    statement: str
    status: IntentStatus
    group_id: uuid.UUID | None
    confidence: float | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Intent:
        return cls(id=row["id"], statement=row["statement"], status=IntentStatus(row["status"]),
                   group_id=row["group_id"], confidence=row["confidence"],
                   metadata=row["metadata"], created_at=row["created_at"],
                   updated_at=row["updated_at"])

    @strawberry.field
    async def group(self, info: Info) -> IntentGroup | None:
        if self.group_id is None:
            return None
        return IntentGroup.from_row(await info.context.loaders.intent_group.load(self.group_id))




@strawberry.type(description="A group of related intents; merged groups point at the survivor.")
class IntentGroup(Linked):
    _entity_type: strawberry.Private[str] = "intent_group"
    id: uuid.UUID
    name: str
    description: str | None
    status: IntentGroupStatus
    merged_into_id: uuid.UUID | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> IntentGroup:
        return cls(id=row["id"], name=row["name"], description=row["description"],
                   status=IntentGroupStatus(row["status"]), merged_into_id=row["merged_into_id"],
                   metadata=row["metadata"], created_at=row["created_at"],
                   updated_at=row["updated_at"])

    @strawberry.field(description="Member intents, oldest first.")
    async def intents(self, info: Info) -> list[Intent]:
        rows = await info.context.loaders.intents_of_group.load(self.id)
        return [Intent.from_row(r) for r in rows]

    @strawberry.field(description="The group this one was merged into, if merged.")
    async def merged_into(self, info: Info) -> IntentGroup | None:
        if self.merged_into_id is None:
            return None
        return IntentGroup.from_row(await info.context.loaders.intent_group.load(self.merged_into_id))




@strawberry.type(description="A decision; superseding links old and new both ways.")
class Decision(Linked):
    _entity_type: strawberry.Private[str] = "decision"
    id: uuid.UUID
    statement: str
    rationale: str | None
    status: DecisionStatus
    superseded_by_id: uuid.UUID | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Decision:
        return cls(id=row["id"], statement=row["statement"], rationale=row["rationale"],
                   status=DecisionStatus(row["status"]), superseded_by_id=row["superseded_by_id"],
                   metadata=row["metadata"], created_at=row["created_at"],
                   updated_at=row["updated_at"])

    @strawberry.field(description="The decision that replaced this one.")
    async def superseded_by(self, info: Info) -> Decision | None:
        if self.superseded_by_id is None:
            return None
        return Decision.from_row(await info.context.loaders.decision.load(self.superseded_by_id))

    @strawberry.field(description="The decision this one replaced.")
    async def supersedes(self, info: Info) -> Decision | None:
        row = await info.context.loaders.decision_superseded_by.load(self.id)
        return Decision.from_row(row) if row else None

    @strawberry.field(description="The whole supersession chain, oldest first.")
    async def lineage(self, info: Info) -> list[Decision]:
        from mimir.decisions.service import lineage

        async with info.context.reads.connection() as conn:
            chain = await lineage(conn, self.id)
        return [Decision.from_row(r) for r in chain["items"]]




@strawberry.type(description="A typed edge between two entities.")
class Relation(Linked):
    _entity_type: strawberry.Private[str] = "relation"
    id: uuid.UUID
    relation_type: str
    source_type: EntityType
    source_id: uuid.UUID
    target_type: EntityType
    target_id: uuid.UUID
    metadata: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Relation:
        return cls(id=row["id"], relation_type=row["relation_type"],
                   source_type=EntityType(row["source_type"]), source_id=row["source_id"],
                   target_type=EntityType(row["target_type"]), target_id=row["target_id"],
                   metadata=row["metadata"], created_at=row["created_at"])

    @strawberry.field
    async def source(self, info: Info) -> Entity | None:
        return await load_entity(info, self.source_type.value, self.source_id)

    @strawberry.field
    async def target(self, info: Info) -> Entity | None:
        return await load_entity(info, self.target_type.value, self.target_id)



@strawberry.type(description="How an entity was produced: model, prompt, pipeline, evidence.")
class Provenance:
    id: uuid.UUID
    target_type: EntityType
    target_id: uuid.UUID
    model: str | None
    prompt_version: str | None
    pipeline_version: str | None
    parameters: JSON
    evidence_span_ids: list[uuid.UUID]
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Provenance:
        return cls(id=row["id"], target_type=EntityType(row["target_type"]),
                   target_id=row["target_id"], model=row["model"],
                   prompt_version=row["prompt_version"], pipeline_version=row["pipeline_version"],
                   parameters=row["parameters"], evidence_span_ids=list(row["evidence_span_ids"]),
                   created_at=row["created_at"])

    @strawberry.field(description="The entity this record describes.")
    async def target(self, info: Info) -> Entity | None:
        return await load_entity(info, self.target_type.value, self.target_id)

    @strawberry.field(description="The evidence spans, in the order given.")
    async def evidence(self, info: Info) -> list[Span]:
        rows = await info.context.loaders.span.load_many(self.evidence_span_ids)
        return [Span.from_row(r) for r in rows if r is not None]


@strawberry.type(description="A named vector space: model, dimensions and distance.")
class EmbeddingSpace:
    id: uuid.UUID
    name: str
    model: str
    dimensions: int
    distance: EmbeddingDistance
    metadata: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> EmbeddingSpace:
        return cls(id=row["id"], name=row["name"], model=row["model"],
                   dimensions=row["dimensions"], distance=EmbeddingDistance(row["distance"]),
                   metadata=row["metadata"], created_at=row["created_at"])


Entity = Annotated[
    Union[Artifact, ArtifactVersion, Span, Intent, IntentGroup, Decision, Relation],  # noqa: UP007
    strawberry.union("Entity", description="Any entity a relation or provenance can point at."),
]

_ENTITY_LOADERS = {
    "artifact": ("artifact", Artifact),
    "artifact_version": ("version", ArtifactVersion),
    "span": ("span", Span),
    "intent": ("intent", Intent),
    "intent_group": ("intent_group", IntentGroup),
    "decision": ("decision", Decision),
    "relation": ("relation", Relation),
}


async def load_entity(info: Info, entity_type: str, entity_id: uuid.UUID) -> Any:
    """Any entity by (type, id), through the loader of its type; None when it is gone."""
    loader_name, cls = _ENTITY_LOADERS[entity_type]
    row = await getattr(info.context.loaders, loader_name).load(entity_id)
    return cls.from_row(row) if row is not None else None
