"""REST shim for spans: parse, call the service, render."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from mimir.errors import Invalid
from mimir.provenance.rest import provenance_headers
from mimir.provenance.service import ProvenanceIn, merge_provenance
from mimir.rest.deps import Conn, Fields, FilterParams, Paging, SpanId
from mimir.rest.examples import ResponseModel
from mimir.rest.plan_names import SPAN, all_with_plan_names, with_plan_names
from mimir.rest.responses import CursorPage, errors, json_response, page_body, select_fields
from mimir.spans import service
from mimir.spans.service import SPAN_FIELDS_WITH_TEXT, SpanCreate

router = APIRouter(prefix="/api/v1/spans", tags=["spans"])
HeaderProvenance = Annotated[ProvenanceIn | None, Depends(provenance_headers)]

# Query parameters of the listing that choose the base query rather than filter it.
_LISTING_PARAMS = frozenset({"artifact_id", "version_id", "artifact_version_id", "include_text"})


class SpanOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the span.")
    artifact_version_id: uuid.UUID = Field(description="The artifact version the span points "
                                           "into.")
    version_id: uuid.UUID = Field(description="Same as `artifact_version_id` (the old name, "
                                  "kept for existing clients).")
    artifact_id: uuid.UUID = Field(description="The artifact of that version.")
    version_number: int = Field(description="Number of that version.", examples=[1])
    start_offset: int = Field(description="Inclusive, in Unicode code points.", examples=[6])
    end_offset: int = Field(description="Exclusive, in Unicode code points.", examples=[11])
    span_type: str = Field(description="Kind of span (e.g. evidence, quote, chunk).",
                           examples=["quote"])
    label: str | None = Field(description="A short label, if given.",
                              examples=["the user's request"])
    metadata: dict[str, Any] = Field(description="Free-form JSON object.")
    created_at: datetime = Field(description="When the span was created.")


class SpanWithText(SpanOut):
    text: str | None = Field(description="The covered characters, "
                             "`content[start_offset:end_offset]` of the version (derived, never "
                             "stored); null when the version's content was erased (the span "
                             "keeps its offsets).", examples=["world"])


class SpanListItem(SpanOut):
    text: str | None = Field(default=None, description="The covered characters; present only "
                             "with `include_text=true`.", examples=["world"])


class SpanPage(CursorPage):
    items: list[SpanListItem] = Field(description="This page of spans.")


@router.post("", status_code=201, summary="Create a span", response_model=SpanWithText,
             responses=errors(400, 404))
async def create_span(body: SpanCreate, conn: Conn, headers: HeaderProvenance):
    """Create a span over `[start_offset, end_offset)` of one artifact version, named by
    `version_id` or by `artifact_id` + `version_number` (exactly one of the two). Offsets are
    Unicode code points (Python `str` indices) and must satisfy `0 <= start_offset <
    end_offset <= length(content)`; otherwise the 422 states the valid range. The response
    carries the covered `text`. Optional provenance (body `provenance` or `X-Provenance-*`
    headers) is written in the same transaction."""
    span = await service.create_span(conn, body, merge_provenance(headers, body.provenance))
    return json_response(with_plan_names(span, SPAN), status_code=201)


@router.get("", summary="List the spans of an artifact or a version", response_model=SpanPage,
            responses=errors(404))
async def list_spans(
    conn: Conn, page: Paging, filters: FilterParams, fields: Fields,
    artifact_id: Annotated[uuid.UUID | None, Query(
        description="Spans of every version of this artifact.")] = None,
    artifact_version_id: Annotated[uuid.UUID | None, Query(
        description="Spans of this artifact version only.")] = None,
    version_id: Annotated[uuid.UUID | None, Query(
        description="Same as `artifact_version_id` (the old name).")] = None,
    include_text: Annotated[bool, Query(
        description="Add each span's covered `text`.")] = False,
):
    """A page of spans, oldest first, of one artifact (all its versions) or one version:
    exactly one of `artifact_id` and `artifact_version_id` (or its old name `version_id`) is
    required. Filters: `span_type`, `label`,
    `id`, `start_offset`, `end_offset`, `version_number`, `created_at` with
    `__eq|ne|lt|lte|gt|gte|in|icontains` where it applies, and `metadata__<key>=value`,
    `metadata__contains={json}`. `include_text=true` (or `text` in `fields`) adds `text`."""
    if artifact_version_id is not None and version_id not in (None, artifact_version_id):
        raise Invalid("artifact_version_id and version_id name the same parameter and were "
                      "given different values; give one of them",
                      details={"parameters": ["artifact_version_id", "version_id"]})
    version_id = artifact_version_id or version_id
    filters = {k: v for k, v in filters.items() if k not in _LISTING_PARAMS}
    with_text = include_text or (fields is not None and "text" in fields)
    result = await service.list_spans(conn, artifact_id=artifact_id, version_id=version_id,
                                      filters=filters, page=page, include_text=with_text)
    return json_response(page_body(result, select_fields(
        all_with_plan_names(result.items, SPAN), fields, (*SPAN_FIELDS_WITH_TEXT, *SPAN))))


@router.get("/{span_id}", summary="Get a span with its text", response_model=SpanWithText,
            responses=errors(404))
async def get_span(span_id: SpanId, conn: Conn):
    """One span, with the characters it covers (`text`)."""
    return json_response(with_plan_names(await service.get_span(conn, span_id), SPAN))
