"""REST for admins: namespaces and API keys (admin keys only; the auth middleware requires
`admin` under /api/v1/admin). Every change is written to the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import Field, StringConstraints

from mimir.auth import keys
from mimir.erasure.rest import actor_of
from mimir.errors import Conflict
from mimir.namespaces import admin, service
from mimir.namespaces.context import NAME_RULE
from mimir.rest.deps import Conn
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import errors, json_response
from mimir.validation import StrictModel

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

NamespaceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
EXAMPLE_ID = "0b8e6f0c-3c1e-4f55-9a57-2d6d1c1f4b21"


class NamespaceIn(StrictModel):
    name: NamespaceName = Field(description=f"The namespace's name: {NAME_RULE}.",
                                examples=["team-alpha"])
    description: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None, description="What the namespace holds.", examples=["Team Alpha's agents"])


class NamespaceOut(ResponseModel):
    name: str = Field(description="The namespace's name.", examples=["team-alpha"])
    description: str | None = Field(description="What it holds.", examples=["Team Alpha's agents"])
    created_by: str | None = Field(description="Who created it (`key:<prefix>`, `cli:<user>`).",
                                   examples=["key:mimir_Ab3dE"])
    created_at: datetime = Field(description="When.")


class NamespacePage(ResponseModel):
    items: list[NamespaceOut] = Field(description="Every namespace, by name.")


class KeyIn(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")] = Field(
        description="What the key is for.", examples=["support agent"])
    scope: Literal["read", "write", "admin"] = Field(
        default="read", description="`read`, `write` (read and write) or `admin` (everything, "
        "in every namespace, and namespaces and keys).", examples=["write"])
    namespaces: list[NamespaceName] | None = Field(
        default=None, min_length=1, max_length=100,
        description="The namespaces a read or write key may use (default `[\"default\"]`); "
        "the first is where its requests go without `X-Mimir-Namespace`. Not for admin keys.",
        examples=[["team-alpha"]])


class KeyOut(ResponseModel):
    id: uuid.UUID = Field(description="The key's id.", examples=[EXAMPLE_ID])
    name: str = Field(description="What it is for.", examples=["support agent"])
    scope: str = Field(description="read, write or admin.", examples=["write"])
    namespaces: list[str] | None = Field(description="The namespaces it may use; null for an "
                                         "admin key (all).", examples=[["team-alpha"]])
    key_prefix: str = Field(description="The first 12 characters of the key, to recognise it.",
                            examples=["mimir_Ab3dE9"])
    created_at: datetime = Field(description="When it was created.")
    revoked_at: datetime | None = Field(description="When it was revoked, if it was.")


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself. Shown once: only its hash is stored.",
                     examples=["mimir_Ab3dE9..."])


class KeyPage(ResponseModel):
    items: list[KeyOut] = Field(description="Every key, newest first (never the keys).")


@router.post("/namespaces", status_code=201, summary="Create a namespace",
             response_model=NamespaceOut, responses=errors(400, 403, 409, 422))
async def create_namespace(body: NamespaceIn, request: Request, conn: Conn):
    """A new, empty namespace. Keys are then bound to it (`POST /api/v1/admin/keys`), and
    requests choose it with the `X-Mimir-Namespace` header. Admin keys only."""
    row = await service.create(conn, name=body.name, description=body.description,
                               actor=actor_of(request))
    return json_response(row, status_code=201)


@router.get("/namespaces", summary="List namespaces", response_model=NamespacePage,
            responses=errors(403))
async def list_namespaces(conn: Conn):
    """Every namespace, by name. Admin keys only."""
    return json_response({"items": await service.list_all(conn)})


@router.post("/keys", status_code=201, summary="Create an API key", response_model=NewKeyOut,
             responses=errors(400, 403, 404, 422))
async def create_key(body: KeyIn, request: Request, conn: Conn):
    """A new key, returned once. Admin keys only."""
    key, record = await admin.create_key(conn, name=body.name, scope=body.scope,
                                         namespaces=body.namespaces, actor=actor_of(request))
    return json_response({**record, "key": key}, status_code=201)


@router.get("/keys", summary="List API keys", response_model=KeyPage, responses=errors(403))
async def list_keys(conn: Conn):
    """Every key, newest first, with its scope and namespaces; never the key. Admin keys only."""
    return json_response({"items": await keys.list_keys(conn)})


@router.delete("/keys/{key_id}", summary="Revoke an API key", response_model=KeyOut,
               responses=errors(400, 403, 404, 409, 422))
async def revoke_key(request: Request, conn: Conn,
                     key_id: Annotated[uuid.UUID, Path(description="The key's id.")]):
    """The key stops working at once (checked on every request). Admin keys only; a key
    cannot revoke itself (409: revoke it with another admin key, or with `mimir keys
    revoke`), so an admin cannot lock every admin out by accident."""
    if request.scope.get("state", {}).get("api_key_id") == key_id:
        raise Conflict("a key cannot revoke itself; use another admin key or `mimir keys revoke`",
                       details={"key_id": str(key_id)})
    return json_response(await admin.revoke_key(conn, key_id, actor=actor_of(request)))
