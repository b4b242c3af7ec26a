"""REST shim for artifacts and versions: parse, call the service, render."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field

from mimir.artifacts import service
from mimir.artifacts.service import ARTIFACT_FIELDS, ArtifactCreate, ArtifactKind, VersionAppend
from mimir.provenance.rest import provenance_headers
from mimir.provenance.service import ProvenanceIn, merge_provenance
from mimir.rest.deps import ArtifactId, Conn, Fields, FilterParams, Paging
from mimir.rest.examples import ResponseModel
from mimir.rest.plan_names import ARTIFACT, all_with_plan_names, with_plan_names
from mimir.rest.responses import CursorPage, errors, json_response, page_body, select_fields

router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
HeaderProvenance = Annotated[ProvenanceIn | None, Depends(provenance_headers)]


class VersionOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the version.")
    artifact_id: uuid.UUID = Field(description="The artifact it is a version of.")
    version_number: int = Field(description="1, 2, 3, ... per artifact, without gaps.",
                                examples=[1])
    content_hash: str = Field(description="SHA-256 of the UTF-8 content, hex.")
    content_length: int = Field(description="Length in Unicode code points.", examples=[42])
    metadata: dict[str, Any] = Field(description="Free-form JSON object of this version.")
    created_at: datetime = Field(description="When the version was appended.")
    created_by: str | None = Field(description="Who wrote the version (user or system), if "
                                   "given.", examples=["user:maya"])
    erasure_id: uuid.UUID | None = Field(description="Set when the version was erased (the "
                                         "erasure record): its content is then empty, a "
                                         "tombstone.", examples=[None])
    erased_content_length: int | None = Field(description="An erased version's length before "
                                              "erasure (code points); spans' offsets refer "
                                              "to it.", examples=[None])


class VersionWithContent(VersionOut):
    content: str = Field(description="The canonical raw content of the version.")


class VersionAppended(VersionOut):
    created: bool = Field(description="False when the content equalled the latest version's, "
                          "which is returned instead of a new one.")


class ArtifactOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the artifact.")
    artifact_type: ArtifactKind = Field(description="Type of artifact: conversation, "
                                        "document or note.", examples=["conversation"])
    kind: ArtifactKind = Field(description="Same as `artifact_type` (the old name, kept for "
                               "existing clients).", examples=["conversation"])
    title: str | None = Field(description="Title, if any.", examples=["Planning call, 3 March"])
    source: str = Field(description="Where it came from.", examples=["api"])
    external_id: str | None = Field(description="Id in the source, if any.",
                                    examples=["conv-8c1f"])
    metadata: dict[str, Any] = Field(description="Free-form JSON object.")
    created_at: datetime = Field(description="When the artifact was created.")
    latest_version_number: int | None = Field(description="Number of the newest version.",
                                              examples=[3])


class ArtifactDetail(ArtifactOut):
    versions: list[VersionOut] = Field(description="Every version, oldest first, without "
                                       "content.")


class ArtifactCreated(ArtifactDetail):
    created: bool = Field(description="False when (source, external_id) already existed; the "
                          "existing artifact is returned unchanged.")


class ArtifactPage(CursorPage):
    items: list[ArtifactOut] = Field(description="This page of artifacts.")


@router.post("", status_code=201, summary="Create an artifact with version 1",
             response_model=ArtifactCreated,
             responses={200: {"model": ArtifactCreated, "description": "Already imported: the "
                              "existing artifact for this (source, external_id)."},
                        **errors(400, 413)})
async def create_artifact(body: ArtifactCreate, request: Request, conn: Conn,
                          headers: HeaderProvenance):
    """Create an artifact and its version 1 in one transaction, with optional provenance
    (body `provenance` or `X-Provenance-*` headers). Idempotent on (source, external_id)."""
    artifact, created = await service.create_artifact(
        conn, body, max_chars=request.app.state.settings.max_content_chars,
        provenance=merge_provenance(headers, body.provenance))
    return json_response({**with_plan_names(artifact, ARTIFACT), "created": created},
                         status_code=201 if created else 200)


@router.get("", summary="List artifacts", response_model=ArtifactPage, responses=errors(400))
async def list_artifacts(conn: Conn, page: Paging, filters: FilterParams, fields: Fields):
    """A page of artifacts, oldest first. Filters: `artifact_type` (or `kind`), `source`, `external_id`, `title`,
    `id`, `created_at` with `__eq|ne|lt|lte|gt|gte|in|icontains` where it applies, and
    `metadata__<key>=value`, `metadata__contains={json}`."""
    result = await service.list_artifacts(conn, filters, page)
    items = all_with_plan_names(result.items, ARTIFACT)
    return json_response(page_body(result, select_fields(items, fields,
                                                         (*ARTIFACT_FIELDS, *ARTIFACT))))


@router.get("/{artifact_id}", summary="Get an artifact with its versions",
            response_model=ArtifactDetail, responses=errors(404))
async def get_artifact(artifact_id: ArtifactId, conn: Conn):
    """One artifact and the list of its versions (without content)."""
    return json_response(with_plan_names(await service.get_artifact(conn, artifact_id), ARTIFACT))


@router.post("/{artifact_id}/versions", status_code=201, summary="Append a version",
             response_model=VersionAppended,
             responses={200: {"model": VersionAppended, "description": "Same content as the "
                              "latest version, which is returned."}, **errors(400, 404, 413)})
async def append_version(artifact_id: ArtifactId, body: VersionAppend, request: Request,
                         conn: Conn, headers: HeaderProvenance):
    """Append the next version (numbered latest + 1, also under concurrent appends). Content
    identical to the latest version returns that version instead of a new one."""
    version, created = await service.append_version(
        conn, artifact_id, body, max_chars=request.app.state.settings.max_content_chars,
        provenance=merge_provenance(headers, body.provenance))
    return json_response({**version, "created": created}, status_code=201 if created else 200)


@router.get("/{artifact_id}/versions/{version_number}", summary="Get one version with content",
            response_model=VersionWithContent, responses=errors(404))
async def get_version(artifact_id: ArtifactId,
                      version_number: Annotated[int, Path(ge=1, le=2_147_483_647, description="Number of the version, from 1.", examples=[1])], conn: Conn):
    """One version of an artifact, with its full content."""
    return json_response(await service.get_version(conn, artifact_id, version_number))
