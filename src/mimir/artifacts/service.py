"""Artifacts and their append-only versions.

Rules: an artifact is created with version 1 in one transaction; versions are numbered
1, 2, 3, ... per artifact (appends lock the artifact row, and a trigger plus a unique
constraint back this up); appending the latest content again returns the latest version;
a repeated (source, external_id) returns the existing artifact.
"""

from __future__ import annotations

import hashlib
import uuid
from enum import StrEnum
from typing import Annotated, Any

import orjson
from psycopg import AsyncConnection
from pydantic import Field

from mimir.db.errors import translate_errors
from mimir.db.queries import queries
from mimir.embeddings.tasks import enqueue_version
from mimir.entities import EntityType
from mimir.errors import NotFound, PayloadTooLarge
from mimir.provenance.service import BodyProvenance, ProvenanceIn, record_provenance
from mimir.query.filters import (
    Conditions,
    FilterSet,
    enum_field,
    parse_filters,
    text_field,
    timestamp_field,
    uuid_field,
)
from mimir.query.listing import Page, fetch_page
from mimir.query.pagination import PageRequest
from mimir.validation import Label, Metadata, StrictModel, Text, renamed_field


class ArtifactKind(StrEnum):
    CONVERSATION = "conversation"
    DOCUMENT = "document"
    NOTE = "note"


CreatedBy = Annotated[Label | None, Field(description="Who wrote this version: a user or a system.",
                                          examples=["user:maya"])]


class ArtifactCreate(StrictModel):
    artifact_type: ArtifactKind = renamed_field(
        "artifact_type", "kind", description="Type of artifact: conversation, document or note "
        "(`kind`, the old name, is accepted too).", examples=["conversation"])
    content: Text = Field(description="Content of version 1.", examples=["User: hello\nAssistant: hi"])
    title: Label | None = Field(default=None, description="A title.",
                                examples=["Planning call, 3 March"])
    source: Label = Field(default="api", description="Where it came from.", examples=["chatgpt_export"])
    external_id: Label | None = Field(
        default=None, description="Id in the source; (source, external_id) is unique, and "
        "creating it again returns the existing artifact.", examples=["conv-8c1f"])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object: "
                               "extensible properties of the artifact.",
                               examples=[{"project": "apollo"}])
    version_metadata: Metadata = Field(default_factory=dict, description="Metadata of version 1.")
    created_by: CreatedBy = None
    provenance: BodyProvenance = None


class VersionAppend(StrictModel):
    content: Text = Field(description="Full content of the new version.",
                          examples=["User: hello\nAssistant: hi\nUser: one more thing"])
    metadata: Metadata = Field(default_factory=dict, description="Metadata of this version.",
                               examples=[{"exported_at": "2026-11-01"}])
    created_by: CreatedBy = None
    provenance: BodyProvenance = None


ARTIFACT_FILTERS = FilterSet({
    "id": uuid_field("id"),
    "kind": enum_field("artifact_type", [k.value for k in ArtifactKind]),
    "artifact_type": enum_field("artifact_type", [k.value for k in ArtifactKind]),
    "source": text_field("source"),
    "external_id": text_field("external_id"),
    "title": text_field("title"),
    "created_at": timestamp_field("created_at"),
})
ARTIFACT_FIELDS = ("id", "kind", "title", "source", "external_id", "metadata", "created_at",
                   "latest_version_number")


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _check_size(content: str, max_chars: int) -> None:
    if len(content) > max_chars:
        raise PayloadTooLarge(f"content has {len(content)} characters; the maximum is {max_chars}",
                              details={"max_chars": max_chars})


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


async def create_artifact(conn: AsyncConnection, data: ArtifactCreate, *, max_chars: int,
                          provenance: ProvenanceIn | None = None) -> tuple[dict[str, Any], bool]:
    """Create an artifact with version 1; returns (artifact, created). A repeated
    (source, external_id) returns the existing artifact with created=False."""
    _check_size(data.content, max_chars)
    async with conn.transaction():
        with translate_errors():
            artifact = await queries.artifacts_insert(
                conn, artifact_type=data.artifact_type.value, title=data.title, source=data.source,
                external_id=data.external_id, metadata=_json(data.metadata))
        if artifact is None:
            existing = await queries.artifacts_get_by_external_id(
                conn, source=data.source, external_id=data.external_id)
            return await get_artifact(conn, existing["id"]), False
        with translate_errors():
            version = await queries.artifacts_insert_version(
                conn, artifact_id=artifact["id"], version_number=1, content=data.content,
                content_hash=content_hash(data.content), metadata=_json(data.version_metadata),
                created_by=data.created_by)
        await record_provenance(conn, EntityType.ARTIFACT, artifact["id"], provenance)
        await enqueue_version(conn, version["id"])
    return {**artifact, "latest_version_number": 1, "versions": [version]}, True


async def append_version(conn: AsyncConnection, artifact_id: uuid.UUID, data: VersionAppend, *,
                         max_chars: int, provenance: ProvenanceIn | None = None
                         ) -> tuple[dict[str, Any], bool]:
    """Append a version; returns (version, created). Content equal to the latest version's
    returns that version with created=False."""
    _check_size(data.content, max_chars)
    digest = content_hash(data.content)
    async with conn.transaction():
        if await queries.artifacts_lock(conn, id=artifact_id) is None:
            raise NotFound(f"artifact {artifact_id} does not exist")
        latest = await queries.artifacts_get_latest_version(conn, artifact_id=artifact_id)
        if latest is not None and latest["content_hash"] == digest:
            return latest, False
        with translate_errors():
            version = await queries.artifacts_insert_version(
                conn, artifact_id=artifact_id,
                version_number=(latest["version_number"] if latest else 0) + 1,
                content=data.content, content_hash=digest, metadata=_json(data.metadata),
                created_by=data.created_by)
        await record_provenance(conn, EntityType.ARTIFACT_VERSION, version["id"], provenance)
        await enqueue_version(conn, version["id"])
    return version, True


async def get_artifact(conn: AsyncConnection, artifact_id: uuid.UUID) -> dict[str, Any]:
    """One artifact with its versions (without content)."""
    artifact = await queries.artifacts_get(conn, id=artifact_id)
    if artifact is None:
        raise NotFound(f"artifact {artifact_id} does not exist")
    versions = [v async for v in queries.artifacts_list_versions(conn, artifact_id=artifact_id)]
    return {**artifact, "versions": versions}


async def get_version(conn: AsyncConnection, artifact_id: uuid.UUID, number: int) -> dict[str, Any]:
    """One version with its content."""
    version = await queries.artifacts_get_version_by_number(conn, artifact_id=artifact_id, version_number=number)
    if version is None:
        if await queries.artifacts_get(conn, id=artifact_id) is None:
            raise NotFound(f"artifact {artifact_id} does not exist")
        raise NotFound(f"artifact {artifact_id} has no version {number}")
    return version


async def list_artifacts(conn: AsyncConnection, filters: dict[str, str], page: PageRequest) -> Page:
    """A filtered page of artifacts in (created_at, id) order."""
    conditions = Conditions()
    parse_filters(filters, ARTIFACT_FILTERS, conditions)
    return await fetch_page(conn, queries.artifacts_list.sql, {}, conditions, page)
