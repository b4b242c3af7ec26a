"""JSON responses (orjson), sparse fieldsets, and OpenAPI error documentation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from fastapi import Response
from pydantic import Field

from mimir.errors import Invalid
from mimir.rest.examples import ResponseModel


class ErrorBody(ResponseModel):
    code: str = Field(description="Stable machine-readable code.", examples=["not_found"])
    message: str = Field(description="What went wrong, for a human.",
                         examples=["artifact 6f1c… does not exist"])
    details: dict[str, Any] = Field(description="Structured context (field, allowed values).")
    request_id: str | None = Field(description="Quote it when reporting a problem.",
                                   examples=["8bcf50b4a0d440a886df4aaa5f0719d8"])


class CursorPage(ResponseModel):
    """What every cursor-paged listing returns besides its `items`."""

    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.",
                                    examples=["eyJrIjpbIjIwMjYtMDMtMDMiXX0"])
    has_more: bool = Field(description="Whether another page follows.")


class ErrorResponse(ResponseModel):
    error: ErrorBody = Field(description="What went wrong.")


_DESCRIPTIONS = {
    400: "The request cannot be parsed (a body that is not UTF-8 JSON, broken multipart).",
    401: "A key is needed (`Authorization: Bearer <key>`) or the key is unknown or revoked.",
    403: "The key's scope does not allow this (a read key writing).",
    429: "Too many requests for this key; see Retry-After.",
    404: "A referenced record does not exist.",
    409: "The request conflicts with the current state.",
    413: "The content is larger than the configured maximum.",
    422: "The input is invalid (malformed id, unknown enum value, offsets out of range, "
         "unknown filter, tampered cursor, NUL characters).",
    503: "The database is unavailable; retry.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses an operation can return (authentication,
    rate limiting, 422 and 503 are always possible)."""
    wanted = sorted(set(statuses) | {401, 403, 422, 429, 503})
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in wanted}


def json_response(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status_code=status_code,
                    media_type="application/json", headers=headers)


def select_fields(items: Iterable[dict[str, Any]], fields: Sequence[str] | None,
                  allowed: Iterable[str]) -> list[dict[str, Any]]:
    """Keep only the requested fields; an unknown one is a 422 listing the allowed ones."""
    items = list(items)
    if fields is None:
        return items
    allowed = list(allowed)
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        raise Invalid(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}",
                      details={"parameter": "fields", "allowed": allowed})
    return [{f: item.get(f) for f in fields} for item in items]


def page_body(page: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "next_cursor": page.next_cursor, "has_more": page.has_more}
