"""REST shim for imports over HTTP: upload a file, follow its background job."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import Field

from mimir.rest.deps import Conn, ImportId
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import errors, json_response
from mimir.transfer import tasks as _tasks  # noqa: F401 -- registers `imports.run` for deferral
from mimir.transfer import uploads as service
from mimir.transfer.uploads import ImportKind, ImportStatus

router = APIRouter(prefix="/api/v1/imports", tags=["jobs"])


class ImportOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the import.")
    kind: ImportKind = Field(description="`chatgpt`: a ChatGPT data export (.zip or "
                             "conversations.json); `mimir`: a `mimir export` file.")
    status: ImportStatus = Field(description="`queued` → `running` → `succeeded` or `failed`; "
                                 "an import interrupted by a server stop goes back to "
                                 "`queued` and runs again when a worker is back.")
    filename: str = Field(description="The uploaded file's name.", examples=["export.zip"])
    progress: dict[str, Any] = Field(
        description="Running counts, updated while the job runs: `file_bytes` (upload size), "
        "`attempts` (runs started and not ended by a clean stop); "
        "for chatgpt `conversations_seen`, `created`, `updated`, `unchanged`, `skipped`, "
        "`messages`, `spans`, `raw_notes`, `bytes_read` (of the JSON); for mimir `rows` per "
        "table.", examples=[{"file_bytes": 2821420, "conversations_seen": 50,
                             "created": 50, "messages": 812}])
    summary: dict[str, Any] | None = Field(
        description="The importer's final report (null until the job ends); for chatgpt it "
        "lists skipped conversations in `errors`.")
    error: str | None = Field(description="Why the import failed (null otherwise).",
                              examples=["no conversations found"])
    created_at: datetime = Field(description="When the file was uploaded.")
    started_at: datetime | None = Field(description="When a worker started it (null while "
                                        "queued).")
    finished_at: datetime | None = Field(description="When it ended (null until then).")


class ImportsPage(ResponseModel):
    items: list[ImportOut] = Field(description="This page of imports, newest first.")
    total: int = Field(description="Imports matching the filters.", examples=[3])
    has_more: bool = Field(description="True when `offset + limit` does not reach the end.")


@router.post("", status_code=202, summary="Upload a file to import in the background",
             response_model=ImportOut, responses=errors(400, 413))
async def create_import(
    request: Request,
    conn: Conn,
    kind: Annotated[ImportKind, Form(description="What the file is: `chatgpt` or `mimir`.", examples=["chatgpt"])],
    file: Annotated[UploadFile, File(description="The file: for `chatgpt` the export's .zip "
                                     "or its conversations.json; for `mimir` a `mimir "
                                     "export` file (plain or gzip).")],
):
    """Multipart upload (`kind`, `file`). The file is saved (at most MIMIR_MAX_UPLOAD_BYTES,
    default 512 MiB; larger is a 413), then the import is recorded and queued in one
    transaction and runs as the background job `imports.run`. Answers 202 with the import
    and a `Location` header; follow it with `GET /api/v1/imports/{id}` until `status` is
    `succeeded` or `failed`. Everything is imported into the request's namespace. Re-posting
    the same file is safe: imports are idempotent (a `mimir` restore only goes into an
    empty namespace). Each field is sent once: a second
    `kind` or `file` is a 422. The import runs in its own process, within the
    MIMIR_IMPORT_* limits (memory, time, nesting depth, value length, decompressed size);
    a file past them ends `failed` with the limit named in `error`."""
    service.refuse_repeated_fields(await request.form(), ("kind", "file"))
    row = await service.create_import(conn, request.app.state.settings, kind, file)
    return json_response(row, status_code=202,
                         headers={"Location": f"{router.prefix}/{row['id']}"})


@router.get("/{import_id}", summary="An import's status, progress and result",
            response_model=ImportOut, responses=errors(404))
async def get_import(conn: Conn, import_id: ImportId):
    """The import with its `status`, running `progress` counts, final `summary` and
    `error`."""
    return json_response(await service.get_import(conn, import_id))


@router.get("", summary="Recent imports", response_model=ImportsPage, responses=errors())
async def list_imports(
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=200, description="How many to return.")] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000, description="How many to skip.")] = 0,
    status: Annotated[ImportStatus | None, Query(description="Only imports in this "
                                                 "status.")] = None,
    kind: Annotated[ImportKind | None, Query(description="Only imports of this kind.")] = None,
):
    """Imports, newest first, with their status, progress, summary and error."""
    return json_response(await service.list_imports(conn, limit=limit, offset=offset,
                                                    status=status, kind=kind))
