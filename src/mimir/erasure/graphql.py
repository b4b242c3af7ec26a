"""The GraphQL side of erasure: `erase(input: EraseInput!): Erasure` (admin keys only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from mimir.erasure import service
from mimir.erasure.service import ErasureRequest
from mimir.errors import Forbidden


@strawberry.enum(description="What one erasure covers.")
class ErasureScope(Enum):
    ARTIFACT = "artifact"
    VERSION = "version"
    SOURCE = "source"
    NAMESPACE = "namespace"


@strawberry.input(description="What to erase and why.")
class EraseInput:
    scope: ErasureScope = strawberry.field(description="ARTIFACT (all its versions and its "
                                           "`#raw` note), VERSION (one version), SOURCE, or "
                                           "NAMESPACE (everything in the request's namespace).")
    target: str = strawberry.field(description="The artifact or version id, the source, or "
                                   "the request's namespace.")
    reason: str = strawberry.field(description="Why; kept in the record and the audit log.")
    vacuum: bool = strawberry.field(default=True, description="VACUUM (FULL) the touched "
                                    "tables after the erasure commits.")


@strawberry.type(description="An erasure's record: who, when, why, what was removed.")
class Erasure:
    id: uuid.UUID
    scope: ErasureScope
    target: str
    reason: str
    erased_by: str
    erased_at: datetime
    counts: JSON = strawberry.field(description="What was removed, by kind.")
    derived_intent_ids: list[uuid.UUID] = strawberry.field(
        description="Intents derived from the erased evidence (left as they are).")
    derived_decision_ids: list[uuid.UUID] = strawberry.field(
        description="Decisions derived from the erased evidence (left as they are).")
    version_ids: list[uuid.UUID] = strawberry.field(description="Versions now tombstones.")
    artifact_ids: list[uuid.UUID] = strawberry.field(
        description="Artifacts whose title and metadata were cleared.")


async def erase(info, input: EraseInput) -> Erasure:
    scope = info.context.api_key_scope
    if scope not in (None, "admin"):
        raise Forbidden(f"a {scope} key cannot erase; it needs an admin key",
                        details={"scope": scope, "needed": "admin"})
    request = ErasureRequest.model_validate({"scope": input.scope.value, "target": input.target,
                                             "reason": input.reason, "vacuum": input.vacuum})
    prefix = info.context.api_key_prefix
    async with info.context.pool.connection() as conn:
        record = await service.erase(conn, request, actor=f"key:{prefix}" if prefix else "anonymous")
    return Erasure(
        id=record["id"], scope=ErasureScope(record["scope"]), target=record["target"],
        reason=record["reason"], erased_by=record["erased_by"], erased_at=record["erased_at"],
        counts=record["counts"], derived_intent_ids=record["derived"]["intents"],
        derived_decision_ids=record["derived"]["decisions"],
        version_ids=record["version_ids"], artifact_ids=record["artifact_ids"])
