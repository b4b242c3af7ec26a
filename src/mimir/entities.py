"""The entity types that relations, provenance and embeddings can point at."""

from __future__ import annotations

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


async def ensure_exists(conn: AsyncConnection, entity_type: EntityType, entity_id, *,
                        role: str = "entity") -> None:
    """Raise NotFound naming the missing entity (e.g. 'relation source intent 6f1c… ')."""
    row = await queries.entities_exists(conn, entity_type=entity_type.value, entity_id=entity_id)
    if not row["exists"]:
        raise NotFound(f"{role} {entity_type.value} {entity_id} does not exist",
                       details={"entity_type": entity_type.value, "entity_id": str(entity_id)})
