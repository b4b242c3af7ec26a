"""REST shim for the background job queue: counts, and recent failures with their errors,
of the request's namespace only (admin keys too see the namespace they are in; a job's
namespace is its `namespace` argument, `default` for jobs without one)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, Field

from mimir.jobs import service
from mimir.rest.deps import Conn
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import errors, json_response

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class StatusCounts(ResponseModel):
    todo: int = Field(description="Queued, waiting for a worker (or for its retry time).",
                      examples=[3])
    doing: int = Field(description="Being run by a worker.", examples=[1])
    succeeded: int = Field(description="Finished without error.", examples=[120])
    failed: int = Field(description="Failed for good, retries exhausted.", examples=[2])
    cancelled: int = Field(description="Cancelled before they ran.", examples=[0])
    aborted: int = Field(description="Stopped while running.", examples=[0])


class QueueCounts(ResponseModel):
    queue: str = Field(description="Name of the queue.", examples=["default"])
    total: int = Field(description="Jobs of the queue still kept.", examples=[126])
    by_status: StatusCounts = Field(description="The queue's jobs by status.")


class QueueStats(ResponseModel):
    total: int = Field(description="All jobs still kept (finished ones are pruned daily).",
                       examples=[126])
    by_status: StatusCounts = Field(description="All jobs by status.")
    queues: list[QueueCounts] = Field(description="Per queue, by queue name.")
    workers: int = Field(description="Workers that sent a heartbeat in the last minute.",
                         examples=[1])


class JobError(ResponseModel):
    type: str = Field(description="Exception class name.", examples=["TimeoutError"])
    message: str = Field(description="Exception message (at most 2000 characters, URL "
                         "credentials redacted).", examples=["embedding provider timed out"])
    attempt: int = Field(description="Which attempt raised it, from 1.", examples=[5])


class FailedJob(ResponseModel):
    id: int = Field(description="procrastinate job id.", examples=[4711])
    task_name: str = Field(description="The task the job ran.", examples=["mimir.jobs.prune"])
    queue: str = Field(description="The queue it was in.", examples=["maintenance"])
    attempts: int = Field(description="Attempts made, the failed last one included.",
                          examples=[5])
    args: dict[str, Any] = Field(description="The job's keyword arguments.",
                                 examples=[{"keep_days": 7}])
    failed_at: datetime | None = Field(description="When the last attempt failed.")
    error: JobError | None = Field(description="The last recorded error; null when none was "
                                   "recorded (e.g. the task did not exist).")


class FailedJobsPage(ResponseModel):
    items: list[FailedJob] = Field(description="This page of failed jobs, most recent first.")
    total: int = Field(description="Failed jobs matching the filters.", examples=[2])
    has_more: bool = Field(description="True when `offset + limit` does not reach the end.")


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


FilterText = Annotated[str | None, AfterValidator(_no_nul)]


@router.get("", summary="Job queue counts", response_model=QueueStats, responses=errors())
async def get_queue_stats(request: Request, conn: Conn):
    """How many jobs of the request's namespace are in each status (`todo`, `doing`, `succeeded`, `failed`,
    `cancelled`, `aborted`), overall and per queue, and how many workers are alive."""
    return json_response(await service.queue_stats(conn, _namespace(request)))


@router.get("/failed", summary="Recent job failures", response_model=FailedJobsPage,
            responses=errors())
async def list_failed_jobs(
    request: Request,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=200, description="How many to return.")] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000, description="How many to skip.")] = 0,
    task_name: Annotated[FilterText, Query(max_length=128, description="Only jobs of this "
                                           "task.", examples=["mimir.jobs.prune"])] = None,
    queue: Annotated[FilterText, Query(max_length=128, description="Only jobs of this "
                                       "queue.", examples=["maintenance"])] = None,
):
    """Jobs of the request's namespace that failed for good (retries exhausted), most recently failed first, each with
    its task, queue, attempts, arguments and the error of its last attempt."""
    return json_response(await service.recent_failures(
        conn, namespace=_namespace(request), limit=limit, offset=offset, task_name=task_name,
        queue=queue))


def _namespace(request: Request) -> str:
    return request.state.namespace
