"""Intents and intent groups.

Rules:
- An intent starts `proposed` and moves once, to `accepted` or `rejected`; both are final.
  Asking for the status an intent already has (accepted -> accepted, rejected -> rejected) is
  an idempotent no-op, so a retried PATCH succeeds; every other change of status, and any
  request for `proposed`, is a Conflict naming the current status. The intent row is locked
  while this is checked; the `intents_status_transition` trigger backs the rule up.
- An intent may join a group that exists (else NotFound) and is not merged (else Conflict
  naming the group it was merged into, so the client can follow). Deprecated groups still
  accept members. The group row is locked FOR SHARE while an intent joins it, so a
  concurrent merge either runs first (and the join sees `merged`) or waits and then moves
  the new member along.
- Groups are `active | deprecated | merged`. Merging locks both groups FOR UPDATE in id
  order (two opposite merges serialize instead of deadlocking, and the second sees the
  first's result), marks the source `merged` with `merged_into_id`, and moves its members
  to the target, all in one transaction. A merged group is final and cannot receive a
  merge, so merge cycles cannot arise; the `trg_intent_groups_merge` trigger backs this up.
- Lock order everywhere: groups (by id) before intents, so merges and intent updates never
  deadlock.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from psycopg import AsyncConnection
from pydantic import AfterValidator, Field

from mimir.db.errors import translate_errors
from mimir.db.queries import queries
from mimir.embeddings.tasks import enqueue_statement
from mimir.entities import EntityType
from mimir.errors import Conflict, Invalid, NotFound
from mimir.provenance.service import BodyProvenance, ProvenanceIn, record_provenance
from mimir.query.filters import (
    Conditions,
    FilterSet,
    enum_field,
    number_field,
    parse_filters,
    text_field,
    timestamp_field,
    uuid_field,
)
from mimir.query.listing import Page, fetch_page
from mimir.query.pagination import PageRequest
from mimir.validation import Label, Metadata, StrictModel, Text, renamed_field

MAX_STATEMENT_CHARS = 10_000


class IntentStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class IntentGroupStatus(StrEnum):
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    MERGED = "merged"


class SettableGroupStatus(StrEnum):
    """The statuses PATCH may set; `merged` is reached only through a merge."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"


# From each status, the statuses an intent may move to.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    IntentStatus.PROPOSED: (IntentStatus.ACCEPTED, IntentStatus.REJECTED),
    IntentStatus.ACCEPTED: (),
    IntentStatus.REJECTED: (),
}


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain a non-whitespace character")
    return value


Statement = Annotated[Text, Field(min_length=1, max_length=MAX_STATEMENT_CHARS),
                      AfterValidator(_not_blank)]
GroupName = Annotated[Label, AfterValidator(_not_blank)]
Description = Annotated[Text, Field(max_length=MAX_STATEMENT_CHARS)]


class IntentCreate(StrictModel):
    statement: Statement = Field(description="What someone intends, in one statement.",
                                 examples=["Move the weekly sync to Thursdays"])
    intent_group_id: uuid.UUID | None = renamed_field(
        "intent_group_id", "group_id", default=None, description="Group to put the intent "
        "in; it must exist and not be merged (`group_id`, the old name, is accepted too).",
        examples=["6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"])
    proposed_by: Label | None = Field(default=None, description="Who proposed it: `human` or "
                                      "a model identifier.", examples=["gpt-4o-2024-08-06"])
    status: Literal[IntentStatus.PROPOSED] = Field(
        default=IntentStatus.PROPOSED, description="Always `proposed` (the default): accept or "
        "reject with PATCH.", examples=["proposed"])
    confidence: float | None = Field(default=None, ge=0, le=1,
                                     description="How sure the extractor is, 0..1.",
                                     examples=[0.82])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object.",
                               examples=[{"project": "apollo"}])
    provenance: BodyProvenance = None


class IntentUpdate(StrictModel):
    status: IntentStatus | None = Field(
        default=None, description="`accepted` or `rejected`, from `proposed` only. Repeating "
        "the current status is a no-op.", examples=["accepted"])
    intent_group_id: uuid.UUID | None = renamed_field(
        "intent_group_id", "group_id", default=None, description="Move the intent to this "
        "group; `null` removes it from its group; leave the field out to keep the group "
        "(`group_id`, the old name, is accepted too).",
        examples=["6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"])
    metadata: Metadata | None = Field(default=None, description="Replaces the metadata object.")
    provenance: BodyProvenance = None


class GroupCreate(StrictModel):
    name: GroupName = Field(description="Short name of the group.",
                            examples=["Meeting cadence"])
    description: Description | None = Field(default=None, description="What the group is "
                                            "about.",
                                            examples=["Intents about when and how often we meet."])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object.",
                               examples=[{"project": "apollo"}])
    status: Literal[IntentGroupStatus.ACTIVE] = Field(
        default=IntentGroupStatus.ACTIVE, description="Always `active` (the default): "
        "deprecate with PATCH, merge with POST .../merge.", examples=["active"])
    provenance: BodyProvenance = None


class GroupUpdate(StrictModel):
    name: GroupName | None = Field(default=None, description="New name.", examples=["Cadence"])
    description: Description | None = Field(default=None,
                                            description="`null` clears the description.")
    status: SettableGroupStatus | None = Field(
        default=None, description="`active` or `deprecated`; merging is a separate operation.",
        examples=["deprecated"])
    metadata: Metadata | None = Field(default=None, description="Replaces the metadata object.")
    provenance: BodyProvenance = None


class GroupMerge(StrictModel):
    into: uuid.UUID = Field(description="Id of the group that absorbs this one.",
                            examples=["6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"])
    provenance: BodyProvenance = None


INTENT_FILTERS = FilterSet({
    "id": uuid_field("id"),
    "status": enum_field("status", [s.value for s in IntentStatus]),
    "group_id": uuid_field("intent_group_id"),
    "intent_group_id": uuid_field("intent_group_id"),
    "proposed_by": text_field("proposed_by"),
    "confidence": number_field("confidence"),
    "statement": text_field("statement"),
    "created_at": timestamp_field("created_at"),
    "updated_at": timestamp_field("updated_at"),
})
INTENT_FIELDS = ("id", "statement", "status", "group_id", "confidence", "metadata",
                 "created_at", "updated_at", "proposed_by")

GROUP_FILTERS = FilterSet({
    "id": uuid_field("id"),
    "name": text_field("name"),
    "status": enum_field("status", [s.value for s in IntentGroupStatus]),
    "merged_into_id": uuid_field("merged_into_id"),
    "created_at": timestamp_field("created_at"),
    "updated_at": timestamp_field("updated_at"),
})
GROUP_FIELDS = ("id", "name", "description", "status", "merged_into_id", "metadata",
                "created_at", "updated_at", "member_count")


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


async def _lock_group_for_join(conn: AsyncConnection, group_id: uuid.UUID) -> None:
    """Check that an intent may join the group, and hold it against a merge until commit."""
    group = await queries.intents_lock_group_shared(conn, id=group_id)
    if group is None:
        raise NotFound(f"intent group {group_id} does not exist",
                       details={"group_id": str(group_id)})
    if group["status"] == IntentGroupStatus.MERGED:
        target = group["merged_into_id"]
        raise Conflict(f"intent group {group_id} was merged into {target}; use that group",
                       details={"group_id": str(group_id), "merged_into_id": str(target)})


# Intents -------------------------------------------------------------------------------

async def create_intent(conn: AsyncConnection, data: IntentCreate, *,
                        provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Create a proposed intent (optionally in a group) with its provenance, atomically."""
    async with conn.transaction():
        if data.intent_group_id is not None:
            await _lock_group_for_join(conn, data.intent_group_id)
        with translate_errors():
            intent = await queries.intents_insert(
                conn, statement=data.statement, intent_group_id=data.intent_group_id,
                confidence=data.confidence, metadata=_json(data.metadata),
                proposed_by=data.proposed_by)
        await record_provenance(conn, EntityType.INTENT, intent["id"], provenance)
        await enqueue_statement(conn, EntityType.INTENT, intent["id"])
    return intent


async def get_intent(conn: AsyncConnection, intent_id: uuid.UUID) -> dict[str, Any]:
    """One intent."""
    intent = await queries.intents_get(conn, id=intent_id)
    if intent is None:
        raise NotFound(f"intent {intent_id} does not exist", details={"intent_id": str(intent_id)})
    return intent


def _check_transition(intent: dict[str, Any], wanted: IntentStatus) -> bool:
    """Whether the status changes; Conflict when the move is not allowed."""
    current = intent["status"]
    if wanted == current and wanted != IntentStatus.PROPOSED:
        return False
    allowed = TRANSITIONS[current]
    if wanted not in allowed:
        rule = "proposed -> accepted | rejected; accepted and rejected are final"
        raise Conflict(
            f"intent {intent['id']} is {current} and cannot become {wanted.value} ({rule})",
            details={"current_status": current, "requested_status": wanted.value,
                     "allowed_statuses": list(allowed)})
    return True


async def update_intent(conn: AsyncConnection, intent_id: uuid.UUID, data: IntentUpdate, *,
                        provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Change status, group and/or metadata. A request that changes nothing returns the
    intent untouched (no write, no provenance); otherwise `updated_at` moves."""
    given = data.model_fields_set - {"provenance"}
    if not given:
        raise Invalid("nothing to update: give status, group_id and/or metadata",
                      details={"allowed": ["status", "group_id", "metadata"]})
    set_group = "intent_group_id" in given
    async with conn.transaction():
        # Groups before intents: the lock order merges use too.
        if set_group and data.intent_group_id is not None:
            await _lock_group_for_join(conn, data.intent_group_id)
        intent = await queries.intents_lock(conn, id=intent_id)
        if intent is None:
            raise NotFound(f"intent {intent_id} does not exist",
                           details={"intent_id": str(intent_id)})
        status_changes = data.status is not None and _check_transition(intent, data.status)
        group_changes = (set_group
                         and data.intent_group_id != intent["intent_group_id"])
        metadata_changes = data.metadata is not None and data.metadata != intent["metadata"]
        if not (status_changes or group_changes or metadata_changes):
            return intent
        with translate_errors():
            updated = await queries.intents_update(
                conn, id=intent_id,
                status=data.status.value if status_changes else None,
                set_group=group_changes, intent_group_id=data.intent_group_id,
                metadata=_json(data.metadata) if metadata_changes else None)
        await record_provenance(conn, EntityType.INTENT, intent_id, provenance)
    return updated


async def list_intents(conn: AsyncConnection, filters: dict[str, str], page: PageRequest) -> Page:
    """A filtered page of intents in (created_at, id) order."""
    conditions = Conditions()
    parse_filters(filters, INTENT_FILTERS, conditions)
    return await fetch_page(conn, queries.intents_list.sql, {}, conditions, page)


# Groups --------------------------------------------------------------------------------

async def _check_name_free(conn: AsyncConnection, name: str,
                           group_id: uuid.UUID | None = None) -> None:
    """Conflict naming the group that already has `name` (other than `group_id`). The unique
    constraint backs this up against a concurrent insert."""
    existing = await queries.intents_group_by_name(conn, name=name)
    if existing is not None and existing["id"] != group_id:
        raise Conflict(f"an intent group named {name!r} exists: {existing['id']}",
                       details={"name": name, "existing_id": str(existing["id"])})


async def create_group(conn: AsyncConnection, data: GroupCreate, *,
                       provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Create an active group with its provenance, atomically. Names are unique: a name
    that exists is a Conflict naming that group."""
    async with conn.transaction():
        await _check_name_free(conn, data.name)
        with translate_errors():
            group = await queries.intents_insert_group(
                conn, name=data.name, description=data.description, metadata=_json(data.metadata))
        await record_provenance(conn, EntityType.INTENT_GROUP, group["id"], provenance)
    return group


async def get_group(conn: AsyncConnection, group_id: uuid.UUID) -> dict[str, Any]:
    """One group with its member count (and `merged_into_id` once merged)."""
    group = await queries.intents_get_group(conn, id=group_id)
    if group is None:
        raise NotFound(f"intent group {group_id} does not exist",
                       details={"group_id": str(group_id)})
    return group


async def update_group(conn: AsyncConnection, group_id: uuid.UUID, data: GroupUpdate, *,
                       provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Rename, describe, deprecate or reactivate a group, or replace its metadata. A merged
    group is final: Conflict naming the group it was merged into."""
    given = data.model_fields_set - {"provenance"}
    if not given:
        raise Invalid("nothing to update: give name, description, status and/or metadata",
                      details={"allowed": ["name", "description", "status", "metadata"]})
    async with conn.transaction():
        group = await queries.intents_lock_group(conn, id=group_id)
        if group is None:
            raise NotFound(f"intent group {group_id} does not exist",
                           details={"group_id": str(group_id)})
        if group["status"] == IntentGroupStatus.MERGED:
            target = group["merged_into_id"]
            raise Conflict(f"intent group {group_id} was merged into {target} and can no "
                           "longer change", details={"group_id": str(group_id),
                                                     "merged_into_id": str(target)})
        if data.name is not None:
            await _check_name_free(conn, data.name, group_id)
        with translate_errors():
            await queries.intents_update_group(
                conn, id=group_id, name=data.name,
                set_description="description" in given, description=data.description,
                status=data.status.value if data.status is not None else None,
                metadata=_json(data.metadata) if data.metadata is not None else None)
        await record_provenance(conn, EntityType.INTENT_GROUP, group_id, provenance)
        return await get_group(conn, group_id)


async def merge_groups(conn: AsyncConnection, source_id: uuid.UUID, target_id: uuid.UUID, *,
                       provenance: ProvenanceIn | None = None) -> dict[str, Any]:
    """Merge `source_id` into `target_id`: the source becomes `merged` and its members move
    to the target. Returns the target (with its new member count), `moved_intents` and
    `merged_group_id`."""
    if source_id == target_id:
        raise Conflict(f"intent group {source_id} cannot be merged into itself",
                       details={"group_id": str(source_id)})
    async with conn.transaction():
        # Both rows, in id order, so that concurrent merges of the same pair cannot deadlock.
        locked: dict[uuid.UUID, dict[str, Any] | None] = {}
        for group_id in sorted((source_id, target_id)):
            locked[group_id] = await queries.intents_lock_group(conn, id=group_id)
        source, target = locked[source_id], locked[target_id]
        for role, group_id, row in (("source", source_id, source), ("target", target_id, target)):
            if row is None:
                raise NotFound(f"merge {role}: intent group {group_id} does not exist",
                               details={"group_id": str(group_id), "role": role})
        if source["status"] == IntentGroupStatus.MERGED:
            raise Conflict(
                f"intent group {source_id} is already merged into {source['merged_into_id']}",
                details={"group_id": str(source_id),
                         "merged_into_id": str(source["merged_into_id"])})
        if target["status"] == IntentGroupStatus.MERGED:
            raise Conflict(
                f"intent group {target_id} was merged into {target['merged_into_id']} and "
                "cannot receive a merge; merge into that group instead",
                details={"group_id": str(target_id),
                         "merged_into_id": str(target["merged_into_id"])})
        with translate_errors():
            await queries.intents_mark_group_merged(conn, id=source_id, into_id=target_id)
            moved = await queries.intents_move_group_members(conn, from_id=source_id,
                                                            to_id=target_id)
        await record_provenance(conn, EntityType.INTENT_GROUP, source_id, provenance)
        surviving = await get_group(conn, target_id)
    return {**surviving, "moved_intents": moved["moved"], "merged_group_id": source_id}


async def list_groups(conn: AsyncConnection, filters: dict[str, str], page: PageRequest) -> Page:
    """A filtered page of intent groups in (created_at, id) order."""
    conditions = Conditions()
    parse_filters(filters, GROUP_FILTERS, conditions)
    return await fetch_page(conn, queries.intents_list_groups.sql, {}, conditions, page)
