"""GET /health and /api/v1/health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from mimir.auth.middleware import parse_authorization
from mimir.errors import Unauthorized
from mimir.health.service import check_health
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import ErrorResponse

router = APIRouter(tags=["health"])


class DatabaseHealth(ResponseModel):
    reachable: bool = Field(description="Whether the database answered the liveness probe "
                            "(run on a connection of its own, outside the request pool).")
    embedded: bool | None = Field(default=None, description="True when Mímir runs its own "
                                  "embedded PostgreSQL. Admin keys only.")
    server_version: str | None = Field(default=None, examples=["18.4"],
                                       description="Admin keys only.")
    pgvector_version: str | None = Field(default=None, examples=["0.8.5"],
                                         description="Admin keys only.")
    migration_revision: str | None = Field(default=None, examples=["0001"],
                                           description="Admin keys only.")


class PoolHealth(ResponseModel):
    saturated: bool = Field(description="Every pooled connection is in use: requests queue "
                            "for one (the database itself may be fine).")
    size: int | None = Field(default=None, description="Open connections. Admin keys only.")
    max_size: int | None = Field(default=None, description="Admin keys only.")
    available: int | None = Field(default=None, description="Idle connections. Admin keys "
                                  "only.")
    waiting: int | None = Field(default=None, description="Requests waiting for a "
                                "connection. Admin keys only.")


class JobCounts(ResponseModel):
    queued: int = Field(description="Jobs waiting for a worker (or for their retry time).",
                        examples=[3])
    running: int = Field(description="Jobs a worker is running.", examples=[1])
    failed: int = Field(description="Jobs that failed for good; see /api/v1/jobs/failed.",
                        examples=[0])


class ReplicaHealth(ResponseModel):
    location: str | None = Field(default=None, examples=["replica-a:5432/mimir"],
                                 description="host:port/dbname (never a user or password). "
                                 "Admin keys only.")
    reachable: bool = Field(description="The replica monitor's last check answered and the "
                            "replica's pool can connect.")
    usable: bool = Field(description="Reads that may be slightly stale go to it now.")
    skipped_because: str | None = Field(
        default=None, examples=["behind"],
        description="Why reads skip it (null while usable): `unreachable`, `behind` (older "
        "than max_lag_s), `not_a_standby` (not in recovery, e.g. promoted), "
        "`primary_unsampled` (the primary's position cannot be read, so nothing proves the "
        "replica current), `conflicts` (replay cancelled several of its reads within "
        "seconds; skipped for a few seconds).")
    lag_s: float | None = Field(default=None, examples=[0.42], description="Staleness in "
                                "seconds: the age of the newest primary position it has "
                                "replayed (null: none within the monitor's memory).")
    lag_bytes: int | None = Field(default=None, examples=[0], description="WAL bytes between "
                                  "the primary's last sampled position and the replica's "
                                  "replay position (null: not known yet).")
    max_lag_s: float = Field(description="MIMIR_REPLICA_MAX_LAG_S, the bound on lag_s.",
                             examples=[5.0])
    reads_served: int | None = Field(default=None, examples=[1200], description="Requests "
                                     "of this API process whose reads it served since the "
                                     "process started. Admin keys only.")
    conflict_retries: int | None = Field(
        default=None, examples=[0], description="Reads of this API process that the "
        "replica's replay cancelled (a recovery conflict) and that were run again on the "
        "primary, since the process started. Admin keys only.")


class Health(ResponseModel):
    status: str = Field(description="`ok`; `busy` when the database is alive but every pooled "
                        "connection is in use (still 200: not a reason to restart); "
                        "`degraded` (503) when the database does not answer.",
                        examples=["ok"])
    database: DatabaseHealth = Field(description="The database as seen by the liveness probe.")
    pool: PoolHealth = Field(description="The connection pool.")
    version: str | None = Field(default=None, description="Mímir's version. Admin keys only.",
                                examples=["0.1.0"])
    jobs: JobCounts | None = Field(default=None, description="Background job counts. Admin "
                                   "keys only.")
    replicas: list[ReplicaHealth] | None = Field(
        default=None, description="Read replicas (MIMIR_DATABASE_REPLICA_URLS), as this "
        "process's replica monitor last saw them; absent without replicas. A replica that is "
        "behind or down never changes `status`: reads then go to the primary.")


async def _health(request: Request) -> JSONResponse:
    state = request.app.state
    try:
        key = parse_authorization(request.headers)
    except Unauthorized:
        key = None  # a malformed header just gets the public report
    report, alive = await check_health(
        state.health_probe, state.pool, is_embedded=state.database.is_embedded, key=key,
        require_auth=state.settings.require_auth)
    return JSONResponse(report, status_code=200 if alive else 503)


_DOC = dict(
    summary="Service health",
    description="Liveness without authentication: 200 while PostgreSQL answers (status `ok`, "
    "or `busy` when the request pool is saturated), 503 with status `degraded` when it does "
    "not. Versions, migration, job counts and pool figures are shown to admin keys only "
    "(to everyone on a server without keys).",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database is unreachable "
                      "(status `degraded`)."},
               400: {"model": ErrorResponse, "description": "Two Authorization headers."}},
)
router.add_api_route("/health", _health, methods=["GET"], operation_id="health", **_DOC)
router.add_api_route(
    "/api/v1/health", _health, methods=["GET"], operation_id="health_v1", **_DOC
)
