"""REST shim for intents and intent groups: parse, call the service, render.

The `/groups` routes are declared before `/{intent_id}` so that they are not taken for an
intent id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from mimir.intents import service
from mimir.intents.service import (
    GROUP_FIELDS,
    INTENT_FIELDS,
    GroupCreate,
    GroupMerge,
    GroupUpdate,
    IntentCreate,
    IntentGroupStatus,
    IntentStatus,
    IntentUpdate,
)
from mimir.provenance.rest import provenance_headers
from mimir.provenance.service import ProvenanceIn, merge_provenance
from mimir.rest.deps import Conn, Fields, FilterParams, GroupId, IntentId, Paging
from mimir.rest.examples import ResponseModel
from mimir.rest.plan_names import INTENT, all_with_plan_names, with_plan_names
from mimir.rest.responses import CursorPage, errors, json_response, page_body, select_fields

router = APIRouter(prefix="/api/v1/intents", tags=["intents"])
HeaderProvenance = Annotated[ProvenanceIn | None, Depends(provenance_headers)]


class IntentOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the intent.")
    statement: str = Field(description="What someone intends.",
                           examples=["Move the weekly sync to Thursdays"])
    status: IntentStatus = Field(description="proposed -> accepted | rejected; the last two "
                                 "are final.", examples=["proposed"])
    intent_group_id: uuid.UUID | None = Field(description="The group the intent belongs to, "
                                              "if any.")
    group_id: uuid.UUID | None = Field(description="Same as `intent_group_id` (the old name, "
                                       "kept for existing clients).")
    proposed_by: str | None = Field(description="Who proposed it: `human` or a model "
                                    "identifier, if given.", examples=["human"])
    confidence: float | None = Field(description="0..1, if the producer gave one.",
                                     examples=[0.82])
    metadata: dict[str, Any] = Field(description="Free-form JSON object.")
    created_at: datetime = Field(description="When the intent was created.")
    updated_at: datetime = Field(description="When it last changed.")


class IntentPage(CursorPage):
    items: list[IntentOut] = Field(description="This page of intents.")


class GroupOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the group.")
    name: str = Field(description="Name of the group, unique among all groups.",
                      examples=["Meeting cadence"])
    description: str | None = Field(description="What the group is about, if given.")
    status: IntentGroupStatus = Field(description="active | deprecated | merged.",
                                      examples=["active"])
    merged_into_id: uuid.UUID | None = Field(
        description="Set once the group is merged: the group its members moved to.")
    metadata: dict[str, Any] = Field(description="Free-form JSON object.")
    created_at: datetime = Field(description="When the group was created.")
    updated_at: datetime = Field(description="When it last changed.")
    member_count: int = Field(description="Intents currently in the group.", examples=[4])


class GroupMerged(GroupOut):
    moved_intents: int = Field(description="How many intents moved from the merged group.",
                               examples=[3])
    merged_group_id: uuid.UUID = Field(description="The group that was merged (now `merged`).")


class GroupPage(CursorPage):
    items: list[GroupOut] = Field(description="This page of intent groups.")


@router.post("", status_code=201, summary="Create an intent", response_model=IntentOut,
             responses=errors(400, 404, 409))
async def create_intent(body: IntentCreate, conn: Conn, headers: HeaderProvenance):
    """Create an intent with status `proposed`, optionally in a group (404 when the group
    does not exist, 409 naming the surviving group when it was merged), with optional
    provenance (body `provenance` or `X-Provenance-*` headers) written in the same
    transaction: an evidence span that does not exist fails the whole request."""
    intent = await service.create_intent(conn, body,
                                         provenance=merge_provenance(headers, body.provenance))
    return json_response(with_plan_names(intent, INTENT), status_code=201)


@router.get("", summary="List intents", response_model=IntentPage, responses=errors(400))
async def list_intents(conn: Conn, page: Paging, filters: FilterParams, fields: Fields):
    """A page of intents, oldest first. Filters: `id`, `status`, `intent_group_id` (or
    `group_id`), `proposed_by`, `confidence`,
    `statement`, `created_at`, `updated_at` with `__eq|ne|lt|lte|gt|gte|in|icontains` where
    it applies (e.g. `confidence__gte=0.7`, `statement__icontains=sync`), and
    `metadata__<key>=value`, `metadata__contains={json}`."""
    result = await service.list_intents(conn, filters, page)
    items = all_with_plan_names(result.items, INTENT)
    return json_response(page_body(result, select_fields(items, fields, (*INTENT_FIELDS, *INTENT))))


@router.get("/groups", summary="List intent groups", response_model=GroupPage,
            responses=errors(400))
async def list_groups(conn: Conn, page: Paging, filters: FilterParams, fields: Fields):
    """A page of intent groups with their member counts, oldest first. Filters: `id`,
    `name`, `status`, `merged_into_id`, `created_at`, `updated_at` with
    `__eq|ne|lt|lte|gt|gte|in|icontains` where it applies, and `metadata__<key>=value`,
    `metadata__contains={json}`."""
    result = await service.list_groups(conn, filters, page)
    return json_response(page_body(result, select_fields(result.items, fields, GROUP_FIELDS)))


@router.post("/groups", status_code=201, summary="Create an intent group",
             response_model=GroupOut, responses=errors(400, 409))
async def create_group(body: GroupCreate, conn: Conn, headers: HeaderProvenance):
    """Create an `active` intent group, with optional provenance written in the same
    transaction. Group names are unique: a name that exists is a 409 whose details name the
    existing group (`existing_id`)."""
    group = await service.create_group(conn, body,
                                       provenance=merge_provenance(headers, body.provenance))
    return json_response(group, status_code=201)


@router.get("/groups/{group_id}", summary="Get an intent group", response_model=GroupOut,
            responses=errors(404))
async def get_group(group_id: GroupId, conn: Conn):
    """One intent group with its member count; a merged group names the group it was
    merged into (`merged_into_id`)."""
    return json_response(await service.get_group(conn, group_id))


@router.patch("/groups/{group_id}", summary="Update an intent group", response_model=GroupOut,
              responses=errors(400, 404, 409))
async def update_group(group_id: GroupId, body: GroupUpdate, conn: Conn,
                       headers: HeaderProvenance):
    """Rename or describe a group, set its status to `deprecated` or back to `active`, or
    replace its metadata. A merged group is final (409 naming the group it was merged
    into)."""
    group = await service.update_group(conn, group_id, body,
                                       provenance=merge_provenance(headers, body.provenance))
    return json_response(group)


@router.post("/groups/{group_id}/merge", summary="Merge an intent group into another",
             response_model=GroupMerged, responses=errors(400, 404, 409))
async def merge_group(group_id: GroupId, body: GroupMerge, conn: Conn,
                      headers: HeaderProvenance):
    """Merge the group in the path into the group `into`, atomically: the path group becomes
    `merged` (with `merged_into_id`) and all its intents move to `into`. Returns the
    surviving group with its new member count and the number of intents moved. 404 when
    either group does not exist; 409 when they are the same group, when the path group is
    already merged, or when `into` is itself merged. Deprecated groups may be merged.
    Provenance is recorded on the merged group."""
    merged = await service.merge_groups(conn, group_id, body.into,
                                        provenance=merge_provenance(headers, body.provenance))
    return json_response(merged)


@router.get("/{intent_id}", summary="Get an intent", response_model=IntentOut,
            responses=errors(404))
async def get_intent(intent_id: IntentId, conn: Conn):
    """One intent."""
    return json_response(with_plan_names(await service.get_intent(conn, intent_id), INTENT))


@router.patch("/{intent_id}", summary="Update an intent", response_model=IntentOut,
              responses=errors(400, 404, 409))
async def update_intent(intent_id: IntentId, body: IntentUpdate, conn: Conn,
                        headers: HeaderProvenance):
    """Accept or reject a proposed intent, move it to another group (`group_id: null`
    removes it from its group), and/or replace its metadata; `updated_at` moves. Status
    moves only `proposed -> accepted | rejected`: any other change is a 409 naming the
    current status (`details.current_status`); repeating the current status is a no-op.
    A group that does not exist is a 404; a merged group is a 409 naming the group it was
    merged into. A request that changes nothing returns the intent unchanged."""
    intent = await service.update_intent(conn, intent_id, body,
                                         provenance=merge_provenance(headers, body.provenance))
    return json_response(with_plan_names(intent, INTENT))
