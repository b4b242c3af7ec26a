"""GET /health and /api/v1/health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mimir.health.service import check_health

router = APIRouter(tags=["health"])


class DatabaseHealth(BaseModel):
    reachable: bool = Field(description="Whether the database answered the probe.")
    embedded: bool = Field(description="True when Mímir runs its own embedded PostgreSQL.")
    server_version: str | None = Field(default=None, examples=["18.4"])
    pgvector_version: str | None = Field(default=None, examples=["0.8.5"])
    migration_revision: str | None = Field(default=None, examples=["0001"])


class JobCounts(BaseModel):
    queued: int = Field(description="Jobs waiting for a worker (or for their retry time).",
                        examples=[3])
    running: int = Field(description="Jobs a worker is running.", examples=[1])
    failed: int = Field(description="Jobs that failed for good; see /api/v1/jobs/failed.",
                        examples=[0])


class Health(BaseModel):
    status: str = Field(description="`ok`, or `degraded` when the database is unreachable.",
                        examples=["ok"])
    version: str = Field(description="Mímir's version.", examples=["0.1.0"])
    database: DatabaseHealth
    jobs: JobCounts | None = Field(default=None, description="Background job counts; null "
                                   "while the database is unreachable.")


async def _health(request: Request) -> JSONResponse:
    state = request.app.state
    report = await check_health(state.pool, is_embedded=state.database.is_embedded)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


_DOC = dict(
    summary="Service health",
    description="200 with database facts when PostgreSQL answers; 503 with status `degraded` "
    "when it does not. Needs no authentication.",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database is unreachable "
                      "(status `degraded`)."}},
)
router.add_api_route("/health", _health, methods=["GET"], operation_id="health", **_DOC)
router.add_api_route(
    "/api/v1/health", _health, methods=["GET"], operation_id="health_v1", **_DOC
)
