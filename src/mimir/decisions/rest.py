"""REST shim for decisions and their supersession chains: parse, call the service, render."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from mimir.decisions import service
from mimir.decisions.service import DECISION_FIELDS, DecisionCreate, DecisionStatus, DecisionUpdate
from mimir.provenance.rest import provenance_headers
from mimir.provenance.service import ProvenanceIn, merge_provenance
from mimir.rest.deps import Conn, DecisionId, Fields, FilterParams, Paging
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import CursorPage, errors, json_response, page_body, select_fields

router = APIRouter(prefix="/api/v1/decisions", tags=["decisions"])
HeaderProvenance = Annotated[ProvenanceIn | None, Depends(provenance_headers)]


class DecisionOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the decision.")
    statement: str = Field(description="What was decided.",
                           examples=["Use PostgreSQL for the queue"])
    rationale: str | None = Field(description="Why, if given.",
                                  examples=["One database to operate"])
    status: DecisionStatus = Field(description="tentative | active | superseded.",
                                   examples=["active"])
    superseded_by_id: uuid.UUID | None = Field(
        description="The decision that replaced this one (set exactly when superseded).")
    supersedes_id: uuid.UUID | None = Field(description="The decision this one replaced.")
    metadata: dict[str, Any] = Field(description="Free-form JSON object.")
    created_at: datetime = Field(description="When the decision was recorded.")
    updated_at: datetime = Field(description="When it last changed.")


class SupersedeResult(ResponseModel):
    superseded: DecisionOut = Field(description="The old decision, now `superseded`.")
    current: DecisionOut = Field(description="The decision that replaced it.")


class DecisionLineage(ResponseModel):
    decision_id: uuid.UUID = Field(description="The decision the lineage was asked for.")
    current_id: uuid.UUID | None = Field(
        description="The chain's current (not superseded) decision; null only when truncated.")
    items: list[DecisionOut] = Field(description="The whole chain, oldest first.")
    truncated: bool = Field(description=f"True when the chain goes on beyond "
                            f"{service.MAX_LINEAGE_DEPTH} steps either way.")


class DecisionPage(CursorPage):
    items: list[DecisionOut] = Field(description="This page of decisions.")


@router.post("", status_code=201, summary="Create a decision", response_model=DecisionOut,
             responses=errors(400))
async def create_decision(body: DecisionCreate, conn: Conn, headers: HeaderProvenance):
    """Create a `tentative` or `active` (default) decision, with optional provenance (body
    `provenance` or `X-Provenance-*` headers). A decision cannot be created `superseded`:
    supersede an existing one with PATCH `supersede_with`."""
    decision = await service.create_decision(
        conn, body, provenance=merge_provenance(headers, body.provenance))
    return json_response(decision, status_code=201)


@router.get("", summary="List decisions", response_model=DecisionPage, responses=errors(400))
async def list_decisions(conn: Conn, page: Paging, filters: FilterParams, fields: Fields):
    """A page of decisions, oldest first. Filters: `id`, `status`, `statement`,
    `superseded_by_id`, `created_at`, `updated_at` with `__eq|ne|lt|lte|gt|gte|in|icontains`
    where it applies (e.g. `statement__icontains=queue`, `status__in=active,tentative`), and
    `metadata__<key>=value`, `metadata__contains={json}`."""
    result = await service.list_decisions(conn, filters, page)
    return json_response(page_body(result, select_fields(result.items, fields, DECISION_FIELDS)))


@router.get("/{decision_id}", summary="Get a decision", response_model=DecisionOut,
            responses=errors(404))
async def get_decision(decision_id: DecisionId, conn: Conn):
    """One decision, with `supersedes_id` (the decision it replaced, or null) and
    `superseded_by_id` (the decision that replaced it, or null)."""
    return json_response(await service.get_decision(conn, decision_id))


@router.get("/{decision_id}/lineage", summary="The supersession chain of a decision",
            response_model=DecisionLineage, responses=errors(404))
async def get_lineage(decision_id: DecisionId, conn: Conn):
    """Every decision of the chain this one belongs to, oldest first: the ones it replaced,
    itself, and the ones that replaced it, up to the current decision."""
    return json_response(await service.lineage(conn, decision_id))


@router.patch("/{decision_id}", summary="Promote, edit or supersede a decision",
              response_model=DecisionOut | SupersedeResult,
              responses={200: {"description": "The edited decision, or for `supersede_with` "
                               "and `superseded_by_id` `{\"superseded\": <old>, \"current\": "
                               "<successor>}`."},
                         **errors(400, 404, 409)})
async def update_decision(decision_id: DecisionId, body: DecisionUpdate, conn: Conn,
                          headers: HeaderProvenance):
    """Two kinds of change, one per request:

    - edits: `{"status": "active"}` promotes a tentative decision (the only status change
      allowed; others are a 409), `rationale` (null clears it), `metadata` (replaced whole);
    - `{"supersede_with": {statement, rationale, status, metadata}}` creates the new decision
      and marks this one `superseded` by it, atomically. A decision that is already
      superseded is a 409 whose details name its successor (`superseded_by_id`) and the
      chain's current decision (`current_id`);
    - `{"superseded_by_id": "<id>"}` (optionally with `"status": "superseded"`) marks this
      one superseded by a decision that already exists, atomically, with the same chain
      rules: 404 when it does not exist; 409 when it is this decision, is itself
      superseded (details name its chain's `current_id`) or already supersedes another
      decision, or when this decision is already superseded.

    Provenance (body `provenance` or `X-Provenance-*` headers) is attached to the edited
    decision, to the new one when superseding with `supersede_with`, and to this one with
    `superseded_by_id`."""
    provenance = merge_provenance(headers, body.provenance)
    if body.superseded_by_id is not None:
        return json_response(await service.supersede_with_existing(
            conn, decision_id, body.superseded_by_id, provenance=provenance))
    if body.supersede_with is not None:
        result = await service.supersede_decision(conn, decision_id, body.supersede_with,
                                                  provenance=provenance)
        return json_response(result)
    return json_response(await service.update_decision(conn, decision_id, body,
                                                       provenance=provenance))
