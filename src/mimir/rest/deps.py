"""FastAPI dependencies: a pooled connection per request, paging and filter parameters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from psycopg import AsyncConnection

from mimir.errors import Invalid
from mimir.query.pagination import PageRequest, page_request

# Query parameters that are not filters.
RESERVED_PARAMS = frozenset({"limit", "cursor", "offset", "fields"})


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """One pooled connection for the request (autocommit; services open transactions)."""
    async with request.app.state.pool.connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(get_conn)]


def paging(
    request: Request,
    limit: Annotated[int | None, Query(description="Page size (default 50, max 200).",
                                       examples=[50])] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` from the previous page.",
                                        max_length=200)] = None,
    offset: Annotated[int | None, Query(description="Rows to skip instead of a cursor.",
                                        ge=0, le=100_000)] = None,
) -> PageRequest:
    return page_request(limit, cursor, offset, request.app.state.settings.page_max_limit)


Paging = Annotated[PageRequest, Depends(paging)]


def filter_params(request: Request) -> dict[str, str]:
    """Every query parameter that is not paging or `fields`; each may appear once."""
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in RESERVED_PARAMS:
            continue
        if key in params:
            raise Invalid(f"filter {key!r} given twice; use {key.split('__')[0]}__in=a,b",
                          details={"parameter": key})
        params[key] = value
    return params


FilterParams = Annotated[dict[str, str], Depends(filter_params)]


def sparse_fields(
    fields: Annotated[str | None, Query(description="Comma-separated fields to return, "
                                        "e.g. `id,statement,status`.", max_length=1000)] = None,
) -> list[str] | None:
    if fields is None:
        return None
    names = [name.strip() for name in fields.split(",") if name.strip()]
    if not names:
        raise Invalid("fields must name at least one field", details={"parameter": "fields"})
    return names


Fields = Annotated[list[str] | None, Depends(sparse_fields)]


EXAMPLE_UUID = "6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"


def id_path(what: str) -> Any:
    """A documented `{..._id}` path parameter: `Annotated[uuid.UUID, id_path("artifact")]`."""
    return Path(description=f"Id of the {what}.", examples=[EXAMPLE_UUID])


ArtifactId = Annotated[uuid.UUID, id_path("artifact")]
IntentId = Annotated[uuid.UUID, id_path("intent")]
GroupId = Annotated[uuid.UUID, id_path("intent group")]
DecisionId = Annotated[uuid.UUID, id_path("decision")]
SpanId = Annotated[uuid.UUID, id_path("span")]
RelationId = Annotated[uuid.UUID, id_path("relation")]
ImportId = Annotated[uuid.UUID, id_path("import")]
