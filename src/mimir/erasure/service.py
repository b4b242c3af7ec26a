"""Erase content inside the database, then VACUUM so that the text is physically gone.

The erasure itself is one SQL function (`mimir_erase`, migration 0011) run in one
transaction: versions become tombstones, chunks, vectors and postings go, spans keep their
offsets, evidence is marked, and the intents and decisions derived from the erased
evidence are recorded and returned. VACUUM cannot run inside a transaction, so it follows
on the same (autocommit) connection once the erasure has committed: `VACUUM (FULL,
ANALYZE)` of the touched tables rewrites them (heap, TOAST and indexes) into new files, so
no page keeps the old bytes, and refreshes the planner statistics that could hold sampled
values. It takes an ACCESS EXCLUSIVE lock on each table while it runs; `vacuum=False`
skips it (then run `VACUUM FULL` on those tables later). Rows still visible to a
transaction open elsewhere are kept by VACUUM until that transaction ends.
"""

from __future__ import annotations

import base64
import enum
import uuid
from datetime import datetime
from typing import Annotated, Any

from psycopg import AsyncConnection
from pydantic import Field, StringConstraints, model_validator

from mimir.db import citus
from mimir.db.queries import queries
from mimir.errors import Invalid, NotFound
from mimir.namespaces import context as namespace_context
from mimir.namespaces.context import NAME, NAME_RULE
from mimir.validation import StrictModel

# Every table an erasure writes to that can hold the erased text (or words of it).
VACUUMED_TABLES = ("artifact_versions", "artifacts", "spans", "search_postings", "embeddings",
                   "provenance", "provenance_evidence", "relations")


class ErasureScope(enum.StrEnum):
    """What one erasure covers."""

    ARTIFACT = "artifact"
    VERSION = "version"
    SOURCE = "source"
    NAMESPACE = "namespace"


ReasonText = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")]


class ErasureRequest(StrictModel):
    scope: ErasureScope = Field(
        description="`artifact`: every version of the artifact (and, for a ChatGPT import, "
                    "its `<external id>#raw` note); `version`: one version; `source`: every "
                    "artifact whose source is `target`; `namespace`: every artifact of the "
                    "namespace `target`, which must be the request's own namespace. Only the "
                    "request's namespace is ever touched.", examples=["artifact"])
    target: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"\S")] = Field(
        description="The artifact or version id (scope `artifact`/`version`), the source "
                    "name (scope `source`) or the namespace's name (scope `namespace`).",
        examples=["6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"])
    reason: ReasonText = Field(description="Why the content is erased; kept in the erasure "
                               "record and the audit log.",
                               examples=["GDPR Art. 17 request #4411"])
    vacuum: bool = Field(default=True, description="Run VACUUM (FULL, ANALYZE) on the touched "
                         "tables after the erasure commits, so the text is physically gone "
                         "from the table files (locks each table while it runs).",
                         examples=[True])

    @model_validator(mode="after")
    def _target_matches_scope(self) -> ErasureRequest:
        if self.scope in (ErasureScope.ARTIFACT, ErasureScope.VERSION):
            try:
                self.target = str(uuid.UUID(self.target))
            except ValueError:
                raise ValueError(f"target must be a {self.scope.value} id (a UUID)") from None
        elif self.scope is ErasureScope.NAMESPACE and NAME.fullmatch(self.target) is None:
            raise ValueError(f"target must be a namespace name: {NAME_RULE}")
        return self


async def erase(conn: AsyncConnection, request: ErasureRequest, *, actor: str) -> dict[str, Any]:
    """Erase what `request` names (404 when it names nothing), then VACUUM unless told not
    to. Returns the erasure record: counts, derived intents and decisions, ids emptied.

    Works in the connection's namespace (the one in force) only: a target of another
    namespace is "not found", and scope `namespace` must name the namespace in force (400
    otherwise), so one namespace's erasure never touches another's rows."""
    # On Citus the pool's checkout is one transaction (mimir.db.citus): the erasure runs in
    # it, and VACUUM, which cannot run inside a transaction, is left out.
    on_citus = citus.on_citus(conn)
    if not on_citus and (conn.info.transaction_status != 0 or not conn.autocommit):
        raise RuntimeError("erase() needs an autocommit connection outside a transaction")
    here = namespace_context.current()
    if request.scope is ErasureScope.NAMESPACE and request.target != here:
        raise Invalid(f"namespace {request.target} can only be erased from inside it "
                      f"(send {namespace_context.HEADER}: {request.target})",
                      details={"namespace": request.target, "current": here})
    async with conn.transaction():
        found = await queries.erasure_target_exists(conn, scope=request.scope.value,
                                                    target=request.target)
        if not found["found"]:
            raise NotFound(f"no {request.scope.value} {request.target}")
        result = (await queries.erasure_erase(conn, scope=request.scope.value,
                                              target=request.target, reason=request.reason,
                                              actor=actor))["result"]
    vacuumed = request.vacuum and not on_citus
    if vacuumed:
        await vacuum(conn)
    record = await queries.erasure_get(conn, id=uuid.UUID(result["id"]))
    return {**record, "version_ids": result["version_ids"],
            "artifact_ids": result["artifact_ids"], "vacuumed": vacuumed}


async def vacuum(conn: AsyncConnection) -> None:
    """VACUUM (FULL, ANALYZE) the tables an erasure touches (table names are constants)."""
    for table in VACUUMED_TABLES:
        await conn.execute(f"VACUUM (FULL, ANALYZE) {table}")


async def audit_log(conn: AsyncConnection, *, action: str | None, limit: int,
                    namespace: str | None = None, after: str | None = None
                    ) -> dict[str, Any]:
    """A page of the audit log, newest first: `items` and `next` (the cursor of the next
    page, None at the end). `after` is a cursor from an earlier page (keyset on
    created_at, id); `namespace` keeps the entries of that namespace only."""
    if not 1 <= limit <= 1000:
        raise Invalid("limit must be between 1 and 1000")
    before_at, before_id = decode_cursor(after) if after else (None, None)
    rows = [row async for row in queries.erasure_list_audit(
        conn, action=action, namespace=namespace, before_at=before_at, before_id=before_id,
        limit=limit + 1)]
    items = rows[:limit]
    more = len(rows) > limit
    return {"items": items, "next": encode_cursor(items[-1]) if more else None}


def encode_cursor(row: dict[str, Any]) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("after is not a cursor from an earlier page",
                      details={"field": "after"}) from None
