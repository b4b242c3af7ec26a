"""REST shim for embedding spaces and client-written vectors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from mimir.embeddings import service
from mimir.embeddings.service import SpaceCreate, VectorIn
from mimir.rest.deps import Conn
from mimir.rest.examples import ResponseModel
from mimir.rest.plan_names import SPACE, all_with_plan_names, with_plan_names
from mimir.rest.responses import errors, json_response
from mimir.validation import StrictModel, renamed_field

router = APIRouter(prefix="/api/v1/embeddings", tags=["search"])


class SpaceOut(ResponseModel):
    id: Any = Field(description="Space id.")
    name: str = Field(description="Unique space name (the plan's `embedding_space`).",
                      examples=["local-e5-small"])
    embedding_model: str = Field(description="Model the vectors come from.",
                                 examples=["text-embedding-3-small"])
    model: str = Field(description="Same as `embedding_model` (the old name, kept for "
                       "existing clients).", examples=["text-embedding-3-small"])
    dimensions: int = Field(description="Vector length.", examples=[384])
    distance: str = Field(description="How vectors are compared: cosine, l2 or "
                          "inner_product.", examples=["cosine"])
    metadata: dict[str, Any] = Field(description="Free-form JSON object.")
    created_at: datetime = Field(description="When the space was registered.")
    embedding_count: int | None = Field(default=None, description="Vectors stored in the space.")


class VectorsWrite(StrictModel):
    space: str = renamed_field("embedding_space", "space", max_length=63,
                               description="Name of an existing space (`space`, the old "
                               "name, is accepted too).", examples=["openai-3-small"])
    vectors: list[VectorIn] = Field(min_length=1, max_length=service.MAX_VECTORS_PER_REQUEST,
                                    description="Vectors to store (replacing earlier ones).")


class VectorsWritten(ResponseModel):
    written: int = Field(description="How many vectors were stored.", examples=[2])


@router.get("/spaces", summary="List embedding spaces", response_model=list[SpaceOut],
            responses=errors())
async def list_spaces(conn: Conn):
    """Every embedding space with its model, dimensions, distance and vector count."""
    return json_response(all_with_plan_names(await service.list_spaces(conn), SPACE))


@router.post("/spaces", status_code=201, summary="Register an embedding space",
             response_model=SpaceOut,
             responses={200: {"model": SpaceOut, "description": "Already registered with the "
                              "same definition."}, **errors(400, 409)})
async def register_space(body: SpaceCreate, conn: Conn):
    """Register a space (name, model, dimensions, distance) and build its own HNSW index.
    Registering the same definition again is idempotent; another definition under the same
    name is a 409."""
    space, created = await service.register_space(conn, body)
    return json_response(with_plan_names(space, SPACE), status_code=201 if created else 200)


@router.post("", summary="Write vectors", response_model=VectorsWritten,
             responses=errors(400, 404))
async def write_vectors(body: VectorsWrite, conn: Conn):
    """Store vectors you computed yourself (for provider `none` or your own model). Every
    vector must have the space's dimension and every target must exist; all or nothing."""
    return json_response({"written": await service.write_vectors(conn, body.space, body.vectors)})
