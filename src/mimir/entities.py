"""The entity types that relations, provenance and embeddings can point at, and the one
registry of where each lives: table, dataloader, GraphQL type and REST path."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psycopg import AsyncConnection

from mimir.db.queries import queries
from mimir.errors import NotFound


class EntityType(StrEnum):
    ARTIFACT = "artifact"
    ARTIFACT_VERSION = "artifact_version"
    INTENT = "intent"
    INTENT_GROUP = "intent_group"
    DECISION = "decision"
    SPAN = "span"
    RELATION = "relation"


@dataclass(frozen=True)
class Entity:
    """Where one entity type lives. `loader` names the by-id dataloader
    (graphql/loaders.py); `rest_path` is the REST resource of one entity, None when REST
    reaches it only through its parent (a version: /artifacts/{id}/versions/{number})."""

    type: EntityType
    table: str
    graphql_type: str
    loader: str
    rest_path: str | None


ENTITIES: dict[EntityType, Entity] = {entity.type: entity for entity in (
    Entity(EntityType.ARTIFACT, "artifacts", "Artifact", "artifact", "/api/v1/artifacts/{id}"),
    Entity(EntityType.ARTIFACT_VERSION, "artifact_versions", "ArtifactVersion", "version", None),
    Entity(EntityType.SPAN, "spans", "Span", "span", "/api/v1/spans/{id}"),
    Entity(EntityType.INTENT, "intents", "Intent", "intent", "/api/v1/intents/{id}"),
    Entity(EntityType.INTENT_GROUP, "intent_groups", "IntentGroup", "intent_group",
           "/api/v1/intents/groups/{id}"),
    Entity(EntityType.DECISION, "decisions", "Decision", "decision", "/api/v1/decisions/{id}"),
    Entity(EntityType.RELATION, "relations", "Relation", "relation", "/api/v1/relations/{id}"),
)}
BY_GRAPHQL_TYPE: dict[str, Entity] = {entity.graphql_type: entity for entity in ENTITIES.values()}


async def ensure_exists(conn: AsyncConnection, entity_type: EntityType, entity_id, *,
                        role: str = "entity") -> None:
    """Raise NotFound naming the missing entity (e.g. 'relation source intent 6f1c… ')."""
    row = await queries.entities_exists(conn, entity_type=entity_type.value, entity_id=entity_id)
    if not row["exists"]:
        raise NotFound(f"{role} {entity_type.value} {entity_id} does not exist",
                       details={"entity_type": entity_type.value, "entity_id": str(entity_id)})
