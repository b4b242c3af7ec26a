"""REST shim for provenance, and the X-Provenance-* headers every mutation accepts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from pydantic import Field, ValidationError

from mimir.entities import EntityType
from mimir.errors import Invalid
from mimir.provenance import service
from mimir.provenance.service import ProvenanceIn
from mimir.rest.deps import EXAMPLE_UUID, Conn
from mimir.rest.examples import ResponseModel
from mimir.rest.plan_names import PROVENANCE, all_with_plan_names, with_plan_names
from mimir.rest.responses import errors, json_response

router = APIRouter(prefix="/api/v1/provenance", tags=["provenance"])

_HEADERS = {"model_id": "X-Provenance-Model", "pipeline_version": "X-Provenance-Pipeline",
            "prompt_version": "X-Provenance-Prompt-Version"}


def provenance_headers(
    x_provenance_model: Annotated[str | None, Header(
        description="Model that produced the entity (provenance shorthand).", max_length=500)] = None,
    x_provenance_pipeline: Annotated[str | None, Header(
        description="Pipeline version that produced the entity.", max_length=500)] = None,
    x_provenance_prompt_version: Annotated[str | None, Header(
        description="Prompt version used.", max_length=500)] = None,
) -> ProvenanceIn | None:
    """Provenance given as headers; a body `provenance` object overrides field by field. An
    empty header says nothing, as if it were not sent."""
    given = {"model_id": x_provenance_model or None,
             "pipeline_version": x_provenance_pipeline or None,
             "prompt_version": x_provenance_prompt_version or None}
    if not any(given.values()):
        return None
    try:
        return ProvenanceIn(**given)
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]
        header = _HEADERS[str(problem["loc"][0])]
        raise Invalid(f"header {header}: {problem['msg']}", details={"header": header}) from None


class ProvenanceOut(ResponseModel):
    id: uuid.UUID = Field(description="Id of the provenance record.")
    target_type: EntityType = Field(description="Type of the entity it describes.",
                                    examples=["intent"])
    target_id: uuid.UUID = Field(description="Id of the entity it describes.")
    model_id: str | None = Field(description="Model that produced the entity, if given.",
                                 examples=["gpt-4o-2024-08-06"])
    model: str | None = Field(description="Same as `model_id` (the old name, kept for "
                              "existing clients).", examples=["gpt-4o-2024-08-06"])
    prompt_version: str | None = Field(description="Version of the prompt used, if given.",
                                       examples=["intent-extract@3"])
    pipeline_version: str | None = Field(description="Version of the pipeline, if given.",
                                         examples=["mimir-extract 1.4.0"])
    metadata: dict[str, Any] = Field(description="Free-form JSON object (settings such as "
                                     "temperature, other properties).",
                                     examples=[{"temperature": 0.2}])
    parameters: dict[str, Any] = Field(description="Same as `metadata` (the old name, kept "
                                       "for existing clients).")
    evidence_span_ids: list[uuid.UUID] = Field(description="Spans the entity was derived "
                                               "from, in the order given.")
    created_at: datetime = Field(description="When the record was written.")


class ProvenanceCreate(ProvenanceIn):
    target_type: EntityType = Field(description="Type of the entity it describes.",
                                    examples=["intent"])
    target_id: uuid.UUID = Field(description="Id of the entity it describes.")


@router.post("", status_code=201, summary="Record provenance", response_model=ProvenanceOut,
             responses=errors(400, 404))
async def create_provenance(body: ProvenanceCreate, conn: Conn):
    """Record how an existing entity was produced: model, prompt and pipeline versions,
    parameters, and the evidence spans it came from (which must exist)."""
    provenance = ProvenanceIn.model_validate(body.model_dump(exclude={"target_type", "target_id"}))
    record = await service.create_provenance(conn, body.target_type, body.target_id, provenance)
    return json_response(with_plan_names(record, PROVENANCE), status_code=201)


@router.get("/{target_type}/{target_id}", summary="Provenance of an entity",
            response_model=list[ProvenanceOut], responses=errors(404))
async def get_provenance(
    target_type: Annotated[EntityType, Path(description="Type of the entity.",
                                            examples=["intent"])],
    target_id: Annotated[uuid.UUID, Path(description="Id of the entity.",
                                         examples=[EXAMPLE_UUID])],
    conn: Conn,
):
    """Every provenance record of one entity, oldest first, each with its evidence span ids
    in order."""
    return json_response(all_with_plan_names(
        await service.provenance_for(conn, target_type, target_id), PROVENANCE))
