"""REST for admins: `POST /api/v1/admin/erasures` and `GET /api/v1/admin/audit`
(admin keys only; the auth middleware requires `admin` under /api/v1/admin)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from mimir.erasure import service
from mimir.erasure.service import ErasureRequest, ErasureScope
from mimir.rest.deps import Conn
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import errors, json_response

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

EXAMPLE_ID = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"


class DerivedOut(ResponseModel):
    intents: list[uuid.UUID] = Field(description="Intents whose provenance cites erased spans "
                                     "or that a relation joins to erased content.",
                                     examples=[[EXAMPLE_ID]])
    decisions: list[uuid.UUID] = Field(description="Decisions derived from erased evidence, "
                                       "the same way.", examples=[[]])


class ErasureOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the erasure record.", examples=[EXAMPLE_ID])
    scope: ErasureScope = Field(description="What was erased.", examples=["artifact"])
    target: str = Field(description="The artifact or version id, or the source.",
                        examples=[EXAMPLE_ID])
    reason: str = Field(description="Why.", examples=["GDPR Art. 17 request #4411"])
    erased_by: str = Field(description="Who: `key:<key prefix>`, `cli:<user>` or "
                           "`anonymous` (no key needed).", examples=["key:mimir_Ab3dE"])
    erased_at: datetime = Field(description="When the erasure committed.")
    counts: dict[str, int] = Field(description="What was removed: artifacts, versions, "
                                   "characters, spans_cleared, chunks_deleted, "
                                   "embeddings_deleted, postings_deleted, evidence_marked, "
                                   "relations_deleted, successors_reindexed.",
                                   examples=[{"versions": 2, "characters": 5120}])
    derived: DerivedOut = Field(description="Intents and decisions derived from the erased "
                                "evidence; left as they are for the caller to decide on.")
    version_ids: list[uuid.UUID] = Field(description="Versions that became tombstones.",
                                         examples=[[EXAMPLE_ID]])
    artifact_ids: list[uuid.UUID] = Field(description="Artifacts whose title and metadata "
                                          "were cleared (all their versions erased).",
                                          examples=[[EXAMPLE_ID]])
    vacuumed: bool = Field(description="Whether VACUUM (FULL) ran on the touched tables.",
                           examples=[True])


class AuditEntryOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the entry.", examples=[EXAMPLE_ID])
    action: str = Field(description="What was done, e.g. `erasure`.", examples=["erasure"])
    actor: str = Field(description="Who did it.", examples=["key:mimir_Ab3dE"])
    namespace: str | None = Field(description="The namespace it happened in (null for key "
                                  "changes, which belong to none).", examples=["default"])
    subject: str | None = Field(description="What it was done to, e.g. `artifact:<id>`.",
                                examples=[f"artifact:{EXAMPLE_ID}"])
    details: dict[str, Any] = Field(description="The action's record (for an erasure: its "
                                    "id, reason and counts).", examples=[{"reason": "GDPR"}])
    created_at: datetime = Field(description="When.")


class AuditPage(ResponseModel):
    items: list[AuditEntryOut] = Field(description="Entries, newest first.")
    next: str | None = Field(description="Pass as `after` for the next page; null on the "
                             "last page.", examples=[None])


def actor_of(request: Request) -> str:
    prefix = request.scope.get("state", {}).get("api_key_prefix")
    return f"key:{prefix}" if prefix else "anonymous"


@router.post("/erasures", status_code=201,
             summary="Erase an artifact, a version, a source or a namespace's content",
             response_model=ErasureOut, responses=errors(400, 403, 404, 422))
async def create_erasure(body: ErasureRequest, request: Request, conn: Conn):
    """The content becomes a tombstone (who, when, why, counts); chunks, vectors, search
    postings and metadata copies go; spans keep offsets but lose their text. Then VACUUM
    (FULL) of the touched tables, unless `vacuum` is false. Works in the request's
    namespace only (`X-Mimir-Namespace`); scope `namespace` erases everything in it (the
    namespace itself stays, empty). Admin keys only."""
    return json_response(await service.erase(conn, body, actor=actor_of(request)),
                         status_code=201)


@router.get("/audit", summary="Read the audit log", response_model=AuditPage,
            responses=errors(403, 422))
async def read_audit(
    conn: Conn,
    action: Annotated[str | None, Query(max_length=64, description="Only this action.",
                                        examples=["erasure"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many entries.",
                                examples=[50])] = 50,
    namespace: Annotated[str | None, Query(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Only entries of this namespace.",
        examples=["default"])] = None,
    after: Annotated[str | None, Query(max_length=200, description="The `next` cursor of the "
                                       "previous page.")] = None,
):
    """Admin actions (erasures, namespace creation, key creation and revocation), newest
    first, a page at a time (follow `next`). Admin keys only; every namespace's entries,
    unless `namespace` is given."""
    return json_response(await service.audit_log(conn, action=action, limit=limit,
                                                 namespace=namespace, after=after))
