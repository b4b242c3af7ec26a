"""Shared GraphQL inputs and connection types."""

from __future__ import annotations

import uuid
from typing import Generic, TypeVar

import strawberry
from strawberry.scalars import JSON

from mimir.errors import Invalid
from mimir.graphql.enums import EntityType

T = TypeVar("T")


@strawberry.input(description="An entity by type and id.")
class EntityRef:
    type: EntityType
    id: uuid.UUID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type(description="A page of results, Relay style.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def filter_params(value: JSON | None) -> dict[str, str]:
    """The `filter` argument: the REST filter parameters as an object of scalars, e.g.
    {"status": "accepted", "created_at__gte": "2026-01-01T00:00:00Z", "metadata__project": "x"}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("filter must be an object of field -> value")
    params = {}
    for key, raw in value.items():
        if isinstance(raw, bool):
            params[key] = "true" if raw else "false"
        elif isinstance(raw, (str, int, float)):
            params[key] = str(raw)
        elif isinstance(raw, list) and all(isinstance(v, (str, int, float)) for v in raw):
            params[key] = ",".join(str(v) for v in raw)
        elif isinstance(raw, dict) and key.endswith("__contains"):
            import orjson

            params[key] = orjson.dumps(raw).decode()
        else:
            raise Invalid(f"filter {key!r}: give a string, number or list of them",
                          details={"parameter": key})
    return params
