"""Decisions and their supersession chains.

Rules: a decision is created `tentative` or `active` (never `superseded`); the only status
edit is `tentative -> active`; superseding creates the new decision (or takes an existing
current decision that supersedes nothing yet) and marks the old one `superseded` with
`superseded_by_id` in one transaction, with the old row locked first so
that of several concurrent supersessions of one decision exactly one wins and the others
get a 409 naming the successor. A superseded decision is final (a trigger backs this up),
and a successor is never itself superseded, so chains stay linear and walkable both ways.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

import orjson
from psycopg import AsyncConnection
from pydantic import AfterValidator, Field, model_validator

from mimir.db.errors import translate_errors
from mimir.db.queries import queries
from mimir.embeddings.tasks import enqueue_statement
from mimir.entities import EntityType
from mimir.errors import Conflict, NotFound
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
from mimir.validation import Metadata, StrictModel, Text

# A chain longer than this is cut off in a lineage (chains are acyclic by construction; the
# cap only bounds the work of one request).
MAX_LINEAGE_DEPTH = 1000
MAX_STATEMENT_CHARS = 10_000
MAX_RATIONALE_CHARS = 100_000


class DecisionStatus(StrEnum):
    TENTATIVE = "tentative"
    ACTIVE = "active"
    SUPERSEDED = "superseded"


CREATABLE_STATUSES = (DecisionStatus.TENTATIVE, DecisionStatus.ACTIVE)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Statement = Annotated[Text, Field(min_length=1, max_length=MAX_STATEMENT_CHARS),
                      AfterValidator(_not_blank)]
Rationale = Annotated[Text, Field(max_length=MAX_RATIONALE_CHARS)]


def _creatable(status: DecisionStatus) -> DecisionStatus:
    if status not in CREATABLE_STATUSES:
        raise ValueError("a decision is created tentative or active; it becomes superseded "
                         "only when another decision supersedes it (PATCH supersede_with)")
    return status


class DecisionFields(StrictModel):
    """What a new decision is made of (also the successor in a supersession)."""

    statement: Statement = Field(description="What was decided.",
                                 examples=["Use PostgreSQL for the queue"])
    rationale: Rationale | None = Field(default=None, description="Why.",
                                        examples=["One database to operate; SKIP LOCKED works"])
    status: Annotated[DecisionStatus, AfterValidator(_creatable)] = Field(
        default=DecisionStatus.ACTIVE, description="`tentative` or `active` (default).",
        examples=["active"])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object.",
                               examples=[{"project": "apollo"}])


class DecisionCreate(DecisionFields):
    superseded_by_id: None = Field(default=None, description="Always null when a decision is "
                                   "created (the plan's field; supersede with PATCH).",
                                   examples=[None])
    provenance: BodyProvenance = None


class DecisionSuccessor(DecisionFields):
    """The decision that replaces another (its provenance goes next to `supersede_with`)."""


class DecisionUpdate(StrictModel):
    """Either edits (status `tentative -> active`, rationale, metadata) or a supersession
    (`supersede_with`), not both."""

    status: DecisionStatus | None = Field(
        default=None, description="Only `active`, to promote a tentative decision.",
        examples=["active"])
    rationale: Rationale | None = Field(default=None,
                                        description="New rationale; null clears it.")
    metadata: Metadata | None = Field(default=None, description="Replaces the metadata object.")
    supersede_with: DecisionSuccessor | None = Field(
        default=None, description="Create this decision and mark this one superseded by it.")
    superseded_by_id: uuid.UUID | None = Field(
        default=None, description="Mark this decision superseded by that existing decision, "
        "which must be current (not superseded) and supersede no other decision. `status: "
        "superseded` may accompany it.", examples=["6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"])
    provenance: ProvenanceIn | None = Field(
        default=None, description="Attached to the edited decision, or to the new one when "
        "superseding.")

    @model_validator(mode="after")
    def _one_kind_of_change(self) -> DecisionUpdate:
        if self.superseded_by_id is not None:
            if self.status not in (None, DecisionStatus.SUPERSEDED):
                raise ValueError("superseded_by_id makes the decision superseded; status can "
                                 "only be `superseded` (or left out) with it")
            others = sorted({"rationale", "metadata", "supersede_with"} & self.model_fields_set)
            if others:
                raise ValueError(f"superseded_by_id cannot be combined with {', '.join(others)}")
            return self
        edits = sorted({"status", "rationale", "metadata"} & self.model_fields_set)
        if self.supersede_with is not None and edits:
            raise ValueError(f"supersede_with cannot be combined with {', '.join(edits)}; "
                             "edit the decision and supersede it in separate requests")
        if self.supersede_with is None and not edits:
            raise ValueError("nothing to change: give status, rationale, metadata, "
                             "supersede_with or superseded_by_id (statement cannot be edited; "
                             "supersede instead)")
        return self


DECISION_FILTERS = FilterSet({
    "id": uuid_field("id"),
    "status": enum_field("status", [s.value for s in DecisionStatus]),
    "statement": text_field("statement"),
    "superseded_by_id": uuid_field("superseded_by_id"),
    "created_at": timestamp_field("created_at"),
    "updated_at": timestamp_field("updated_at"),
})
DECISION_FIELDS = ("id", "statement", "rationale", "status", "superseded_by_id", "supersedes_id",
                   "metadata", "created_at", "updated_at")


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


async def _insert(conn: AsyncConnection, data: DecisionFields) -> uuid.UUID:
    with translate_errors():
        row = await queries.decisions_insert(
            conn, statement=data.statement, rationale=data.rationale, status=data.status.value,
            metadata=_json(data.metadata))
    return row["id"]


async def _lock(conn: AsyncConnection, decision_id: uuid.UUID) -> dict[str, Any]:
    row = await queries.decisions_lock(conn, id=decision_id)
    if row is None:
        raise NotFound(f"decision {decision_id} does not exist")
    return row


async def _chain_head(conn: AsyncConnection, decision_id: uuid.UUID) -> uuid.UUID:
    chain = [row async for row in queries.decisions_get_lineage(
        conn, id=decision_id, max_depth=MAX_LINEAGE_DEPTH)]
    return chain[-1]["id"] if chain else decision_id


async def _already_superseded(conn: AsyncConnection, decision: dict[str, Any],
                              what: str) -> Conflict:
    successor = decision["superseded_by_id"]
    current = await _chain_head(conn, successor)
    message = f"decision {decision['id']} is already superseded by {successor} and {what}"
    if current != successor:
        message += f"; the current decision of its chain is {current}"
    return Conflict(message, details={"status": DecisionStatus.SUPERSEDED.value,
                                      "superseded_by_id": str(successor),
                                      "current_id": str(current)})


async def create_decision(conn: AsyncConnection, data: DecisionCreate, *,
                          provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Create a tentative or active decision, with its provenance, in one transaction."""
    async with conn.transaction():
        decision_id = await _insert(conn, data)
        await record_provenance(conn, EntityType.DECISION, decision_id, provenance)
        await enqueue_statement(conn, EntityType.DECISION, decision_id)
        return await get_decision(conn, decision_id)


async def get_decision(conn: AsyncConnection, decision_id: uuid.UUID) -> dict[str, Any]:
    """One decision with `supersedes_id` (the one it replaced) and `superseded_by_id`."""
    decision = await queries.decisions_get(conn, id=decision_id)
    if decision is None:
        raise NotFound(f"decision {decision_id} does not exist")
    return decision


async def update_decision(conn: AsyncConnection, decision_id: uuid.UUID, data: DecisionUpdate, *,
                          provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Promote a tentative decision to active and/or edit its rationale and metadata."""
    fields = data.model_fields_set
    async with conn.transaction():
        current = await _lock(conn, decision_id)
        status = current["status"]
        wanted = data.status.value if data.status is not None else status
        if wanted != status:
            if status == DecisionStatus.SUPERSEDED:
                raise await _already_superseded(conn, current, "its status cannot change")
            if wanted == DecisionStatus.SUPERSEDED:
                raise Conflict(f"decision {decision_id} is {status}; it becomes superseded only "
                               "through supersede_with (a new successor) or superseded_by_id "
                               "(an existing one)",
                               details={"status": status, "allowed": ["active"]})
            if (status, wanted) != (DecisionStatus.TENTATIVE, DecisionStatus.ACTIVE):
                raise Conflict(f"decision {decision_id} is {status} and cannot become {wanted}; "
                               "the only status change is tentative -> active",
                               details={"status": status, "allowed": []})
        rationale = data.rationale if "rationale" in fields else current["rationale"]
        metadata = data.metadata if data.metadata is not None else current["metadata"]
        with translate_errors():
            await queries.decisions_update(conn, id=decision_id, status=wanted,
                                           rationale=rationale, metadata=_json(metadata))
        await record_provenance(conn, EntityType.DECISION, decision_id, provenance)
        await enqueue_statement(conn, EntityType.DECISION, decision_id)
        return await get_decision(conn, decision_id)


async def supersede_decision(conn: AsyncConnection, decision_id: uuid.UUID,
                             successor: DecisionFields, *,
                             provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Create `successor` and mark the decision superseded by it, atomically; provenance
    describes the new decision. Returns {"superseded": old, "current": new}."""
    async with conn.transaction():
        old = await _lock(conn, decision_id)
        if old["status"] == DecisionStatus.SUPERSEDED:
            raise await _already_superseded(
                conn, old, "cannot be superseded again; supersede the current decision instead")
        new_id = await _insert(conn, successor)
        await record_provenance(conn, EntityType.DECISION, new_id, provenance)
        await enqueue_statement(conn, EntityType.DECISION, new_id)
        with translate_errors():
            await queries.decisions_mark_superseded(conn, id=decision_id, successor_id=new_id)
        return {"superseded": await get_decision(conn, decision_id),
                "current": await get_decision(conn, new_id)}


async def supersede_with_existing(conn: AsyncConnection, decision_id: uuid.UUID,
                                  successor_id: uuid.UUID, *,
                                  provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Mark the decision superseded by an existing decision, atomically, with the chain
    rules of a new successor: the decision is not superseded yet, the successor is another
    decision that is current and supersedes no other one (so chains stay linear and
    acyclic). Both rows are locked in id order, so concurrent supersessions serialize
    without deadlocks. Provenance describes the superseded decision. Returns
    {"superseded": old, "current": successor}."""
    if successor_id == decision_id:
        raise Conflict(f"decision {decision_id} cannot supersede itself",
                       details={"superseded_by_id": str(successor_id)})
    async with conn.transaction():
        locked = {row_id: await queries.decisions_lock(conn, id=row_id)
                  for row_id in sorted((decision_id, successor_id))}
        old, successor = locked[decision_id], locked[successor_id]
        if old is None:
            raise NotFound(f"decision {decision_id} does not exist")
        if successor is None:
            raise NotFound(f"successor decision {successor_id} does not exist",
                           details={"superseded_by_id": str(successor_id)})
        if old["status"] == DecisionStatus.SUPERSEDED:
            raise await _already_superseded(
                conn, old, "cannot be superseded again; supersede the current decision instead")
        if successor["status"] == DecisionStatus.SUPERSEDED:
            current = await _chain_head(conn, successor_id)
            raise Conflict(f"decision {successor_id} is itself superseded and cannot supersede "
                           f"another; the current decision of its chain is {current}",
                           details={"superseded_by_id": str(successor_id),
                                    "current_id": str(current)})
        predecessor = (await get_decision(conn, successor_id))["supersedes_id"]
        if predecessor is not None:
            raise Conflict(f"decision {successor_id} already supersedes {predecessor}; a "
                           "decision supersedes at most one other",
                           details={"superseded_by_id": str(successor_id),
                                    "supersedes_id": str(predecessor)})
        with translate_errors():
            await queries.decisions_mark_superseded(conn, id=decision_id,
                                                    successor_id=successor_id)
        await record_provenance(conn, EntityType.DECISION, decision_id, provenance)
        return {"superseded": await get_decision(conn, decision_id),
                "current": await get_decision(conn, successor_id)}


async def lineage(conn: AsyncConnection, decision_id: uuid.UUID) -> dict[str, Any]:
    """The whole chain through a decision, oldest first. `truncated` is true when the chain
    goes on beyond MAX_LINEAGE_DEPTH steps in either direction."""
    chain = [row async for row in queries.decisions_get_lineage(
        conn, id=decision_id, max_depth=MAX_LINEAGE_DEPTH)]
    if not chain:
        raise NotFound(f"decision {decision_id} does not exist")
    truncated = chain[0]["supersedes_id"] is not None or chain[-1]["superseded_by_id"] is not None
    last = chain[-1]
    return {"decision_id": decision_id,
            "current_id": last["id"] if last["superseded_by_id"] is None else None,
            "items": chain, "truncated": truncated}


async def list_decisions(conn: AsyncConnection, filters: dict[str, str], page: PageRequest) -> Page:
    """A filtered page of decisions in (created_at, id) order."""
    conditions = Conditions()
    parse_filters(filters, DECISION_FILTERS, conditions)
    return await fetch_page(conn, queries.decisions_list.sql, {}, conditions, page)

