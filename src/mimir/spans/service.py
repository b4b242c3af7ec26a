"""Spans: exact character ranges of one artifact version.

Rules: a span points into exactly one version, named by `version_id` or by `artifact_id` +
`version_number`; its offsets are Unicode code points (Python `str` indices) with
`0 <= start_offset < end_offset <= length(content)` (checked here with a message that states
the valid range, and backed by the `spans_within_version` trigger); its text is derived from
the version's content (`content[start:end]`), never stored. Versions are append-only, so a
span's text never changes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from psycopg import AsyncConnection
from pydantic import Field, model_validator

from mimir.db.errors import translate_errors
from mimir.db.queries import queries
from mimir.entities import EntityType
from mimir.errors import Invalid, NotFound
from mimir.provenance.service import BodyProvenance, ProvenanceIn, record_provenance
from mimir.query.filters import (
    Conditions,
    FilterSet,
    number_field,
    parse_filters,
    text_field,
    timestamp_field,
    uuid_field,
)
from mimir.query.listing import Page, fetch_page
from mimir.query.pagination import PageRequest
from mimir.validation import Identifier, Label, Metadata, StrictModel, renamed_field

MAX_VERSION_NUMBER = 2_147_483_647
Offset = Annotated[int, Field(strict=True)]


class SpanCreate(StrictModel):
    artifact_version_id: uuid.UUID | None = renamed_field(
        "artifact_version_id", "version_id", default=None, description="The artifact version "
        "the span points into. Give this, or `artifact_id` + `version_number`, not both "
        "(`version_id`, the old name, is accepted too).",
        examples=["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"])
    artifact_id: uuid.UUID | None = Field(
        default=None, description="With `version_number`: the artifact whose version the span "
        "points into.")
    version_number: int | None = Field(default=None, ge=1, le=MAX_VERSION_NUMBER,
                                       description="With `artifact_id`.", examples=[1])
    start_offset: Offset = Field(description="First character, in Unicode code points "
                                 "(a Python str index), inclusive.", examples=[6])
    end_offset: Offset = Field(description="End, in code points, exclusive; at most the "
                               "content length.", examples=[11])
    span_type: Identifier = Field(default="generic", description="Kind of span.",
                                  examples=["quote"])
    label: Label | None = Field(default=None, description="A short human-readable label.",
                                examples=["the user's request"])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object.",
                               examples=[{"speaker": "user"}])
    provenance: BodyProvenance = None

    @model_validator(mode="after")
    def _one_way_to_name_the_version(self) -> SpanCreate:
        by_number = self.artifact_id is not None or self.version_number is not None
        if self.artifact_version_id is not None and by_number:
            raise ValueError("give either version_id or artifact_id + version_number, not both")
        if self.artifact_version_id is None:
            if not by_number:
                raise ValueError("give version_id, or artifact_id + version_number")
            if self.artifact_id is None or self.version_number is None:
                raise ValueError("artifact_id and version_number go together; give both "
                                 "(or version_id instead)")
        return self


SPAN_FILTERS = FilterSet({
    "id": uuid_field("id"),
    "span_type": text_field("span_type"),
    "label": text_field("label"),
    "start_offset": number_field("start_offset", "int"),
    "end_offset": number_field("end_offset", "int"),
    "version_number": number_field("version_number", "int"),
    "created_at": timestamp_field("created_at"),
})
SPAN_FIELDS = ("id", "version_id", "artifact_id", "version_number", "start_offset",
               "end_offset", "span_type", "label", "metadata", "created_at")
SPAN_FIELDS_WITH_TEXT = (*SPAN_FIELDS, "text")


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


def check_offsets(start: int, end: int, length: int) -> None:
    """0 <= start < end <= length, or an Invalid that states the valid range."""
    if 0 <= start < end <= length:
        return
    message = (f"offsets must satisfy 0 <= start_offset < end_offset <= {length} for this "
               f"version (length {length}); got start_offset={start}, end_offset={end}")
    if length == 0:
        message += "; the version is empty, so no span fits in it"
    raise Invalid(message, details={"min": 0, "max": length})


async def _resolve_version(conn: AsyncConnection, data: SpanCreate) -> dict[str, Any]:
    if data.artifact_version_id is not None:
        version = await queries.spans_get_version_by_id(
            conn, artifact_version_id=data.artifact_version_id)
        if version is None:
            raise NotFound(f"artifact version {data.artifact_version_id} does not exist",
                           details={"version_id": str(data.artifact_version_id)})
        return version
    version = await queries.spans_get_version_by_number(
        conn, artifact_id=data.artifact_id, version_number=data.version_number)
    if version is None:
        await _ensure_artifact(conn, data.artifact_id)
        raise NotFound(f"artifact {data.artifact_id} has no version {data.version_number}",
                       details={"artifact_id": str(data.artifact_id),
                                "version_number": data.version_number})
    return version


async def _ensure_artifact(conn: AsyncConnection, artifact_id: uuid.UUID) -> None:
    if not (await queries.spans_exists_artifact(conn, artifact_id=artifact_id))["exists"]:
        raise NotFound(f"artifact {artifact_id} does not exist",
                       details={"artifact_id": str(artifact_id)})


async def create_span(conn: AsyncConnection, data: SpanCreate,
                      provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Create a span with its provenance in one transaction; returns it with its text."""
    async with conn.transaction():
        version = await _resolve_version(conn, data)
        check_offsets(data.start_offset, data.end_offset, version["content_length"])
        with translate_errors():
            span = await queries.spans_insert(
                conn, artifact_version_id=version["id"], start_offset=data.start_offset,
                end_offset=data.end_offset, span_type=data.span_type, label=data.label,
                metadata=_json(data.metadata))
        await record_provenance(conn, EntityType.SPAN, span["id"], provenance)
    return span


async def get_span(conn: AsyncConnection, span_id: uuid.UUID) -> dict[str, Any]:
    """One span with its text."""
    span = await queries.spans_get(conn, id=span_id)
    if span is None:
        raise NotFound(f"span {span_id} does not exist", details={"span_id": str(span_id)})
    return span


async def list_spans(conn: AsyncConnection, *, artifact_id: uuid.UUID | None,
                     version_id: uuid.UUID | None, filters: dict[str, str], page: PageRequest,
                     include_text: bool = False) -> Page:
    """A filtered page of the spans of one version, or of every version of one artifact, in
    (created_at, id) order; each with its text when `include_text`."""
    if (artifact_id is None) == (version_id is None):
        raise Invalid("give exactly one of artifact_id (spans of all its versions) or "
                      "version_id (spans of one version)",
                      details={"parameter": "artifact_id", "allowed": ["artifact_id", "version_id"]})
    conditions = Conditions()
    parse_filters(filters, SPAN_FILTERS, conditions)
    if version_id is not None:
        if await queries.spans_get_version_by_id(conn, artifact_version_id=version_id) is None:
            raise NotFound(f"artifact version {version_id} does not exist",
                           details={"version_id": str(version_id)})
        base, params = queries.spans_list_by_version.sql, {"artifact_version_id": version_id}
    else:
        await _ensure_artifact(conn, artifact_id)
        base, params = queries.spans_list_by_artifact.sql, {"artifact_id": artifact_id}
    result = await fetch_page(conn, base, {**params, "include_text": include_text},
                              conditions, page)
    if not include_text:
        for item in result.items:
            item.pop("text", None)
    return result
