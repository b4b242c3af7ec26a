"""The GraphQL enums: each is the domain's own enum, wrapped by Strawberry under its GraphQL
name (one definition per enum; `strawberry.enum` only attaches a schema definition)."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from mimir.artifacts.service import ArtifactKind
from mimir.decisions.service import DecisionStatus
from mimir.entities import EntityType
from mimir.intents.service import IntentGroupStatus, IntentStatus
from mimir.relations.service import Direction
from mimir.search.scope import SearchEntityType

strawberry.enum(EntityType, name="EntityType",
                description="Kinds of entity that relations, provenance and embeddings point at.")
strawberry.enum(ArtifactKind, name="ArtifactKind")
strawberry.enum(IntentStatus, name="IntentStatus")
strawberry.enum(IntentGroupStatus, name="IntentGroupStatus")
strawberry.enum(DecisionStatus, name="DecisionStatus")
strawberry.enum(Direction, name="Direction", description="Which way to follow relations from an entity.")


@strawberry.enum
class EmbeddingDistance(StrEnum):
    """How an embedding space compares vectors (the database enum `embedding_distance`; the
    REST model checks the same three names by pattern)."""

    COSINE = "cosine"
    L2 = "l2"
    INNER_PRODUCT = "inner_product"


SearchableType = strawberry.enum(SearchEntityType, name="SearchableType",
                                 description="What a search may return.")

__all__ = ["ArtifactKind", "DecisionStatus", "Direction", "EmbeddingDistance", "EntityType",
           "IntentGroupStatus", "IntentStatus", "SearchableType"]
