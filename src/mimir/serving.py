"""`mimir serve --workers N`: N API processes on one port, the database prepared once.

The parent (this module's `serve_processes`) starts the embedded PostgreSQL if there is
one and migrates, then runs uvicorn's process supervisor with N children on one listening
socket. Each child builds the app with `child_app` on the parent's database: it neither
starts a server nor migrates (`MIMIR_SERVE_CONNINFO` tells it where the database is), and
it runs no job worker. The job worker (MIMIR_WORKER=inprocess) runs once, in the parent,
on a thread of its own; with MIMIR_WORKER=off, run `mimir worker` processes instead.

uvicorn replaces a child that dies or stops answering its health pipe (checked every half
second). SIGTERM / Ctrl-C: the children get SIGTERM and finish their requests, then the
parent stops the job worker (running jobs get a few seconds) and the embedded server.

The rate limit is shared through PostgreSQL in the children (MIMIR_RATE_LIMIT_STORE
defaults to `postgres` here) so N processes do not grant N times the budget.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mimir.config import RateLimitStore, Settings, WorkerMode
from mimir.db.lifecycle import PreparedDatabase
from mimir.jobs.worker import JobWorker
from mimir.logging import get_logger

log = get_logger("mimir.serve")

CONNINFO_ENV = "MIMIR_SERVE_CONNINFO"  # set by the parent for its children only
EMBEDDED_ENV = "MIMIR_SERVE_EMBEDDED"  # "1" when the parent runs the embedded server


@dataclass
class ParentsDatabase(PreparedDatabase):
    """A child's view of the database its parent prepared (and alone stops)."""

    parent_embedded: bool = False

    @property
    def is_embedded(self) -> bool:
        return self.parent_embedded

    def close(self) -> None:
        pass


async def worker_session(settings: Settings, conninfo: str, job_worker: JobWorker,
                         run: Callable[[JobWorker], Awaitable[None]]) -> None:
    """Configure the indexing runtime the jobs need, queue versions written while no worker
    ran (when a provider is set), then `run(job_worker)`."""
    from mimir.embeddings import runtime as embedding_runtime
    from mimir.embeddings.tasks import backfill

    indexing = await embedding_runtime.configure(settings, conninfo)
    if indexing.provider is not None:
        await backfill(conninfo, space_id=indexing.space["id"] if indexing.space else None)
    try:
        await run(job_worker)
    finally:
        await embedding_runtime.reset()


class WorkerThread:
    """The job worker on a thread with its own event loop (the parent's main thread runs
    uvicorn's supervisor)."""

    def __init__(self, settings: Settings, conninfo: str) -> None:
        self.settings = settings
        self.job_worker = JobWorker(conninfo, concurrency=settings.worker_concurrency)
        self.conninfo = conninfo
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="mimir job worker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=30)

    def stop(self, timeout_s: float = 30) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout_s)

    def _main(self) -> None:
        asyncio.run(worker_session(self.settings, self.conninfo, self.job_worker, self._run))

    async def _run(self, job_worker: JobWorker) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        job_worker.start()
        try:
            await self._stop.wait()
        finally:
            await job_worker.stop()


def child_environment(settings: Settings, database: PreparedDatabase) -> dict[str, str]:
    """What the parent adds to its environment for its children."""
    env = {CONNINFO_ENV: database.conninfo, EMBEDDED_ENV: "1" if database.is_embedded else "0",
           "MIMIR_WORKER": WorkerMode.OFF.value,
           "MIMIR_AUTO_MIGRATE": "false"}
    if "rate_limit_store" not in settings.model_fields_set:
        env["MIMIR_RATE_LIMIT_STORE"] = RateLimitStore.POSTGRES.value
    return env


def child_app():
    """The app of one child (`uvicorn --factory`): on the parent's database, no worker."""
    from mimir.app import create_app
    from mimir.config import LogFormat, get_settings
    from mimir.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level.value, pretty=settings.log_format is LogFormat.PRETTY)
    database = ParentsDatabase(conninfo=os.environ[CONNINFO_ENV],
                               parent_embedded=os.environ.get(EMBEDDED_ENV) == "1")
    return create_app(settings, database, close_database=False)


def __getattr__(name: str):
    # uvicorn's `http=` for the children, as an import string (the supervisor pickles its
    # config): the header-timeout protocol, built in the child from its settings.
    if name == "HeaderTimeoutProtocol":
        from mimir.config import get_settings
        from mimir.rest.timeouts import header_timeout_protocol

        return header_timeout_protocol(get_settings().http_header_timeout_s)
    raise AttributeError(name)


def serve_processes(settings: Settings, database: PreparedDatabase, *, host: str, port: int,
                    workers: int) -> None:
    """Serve with `workers` child processes until SIGTERM / SIGINT (the caller closes the
    database afterwards)."""
    import uvicorn

    os.environ.update(child_environment(settings, database))
    background = None
    if settings.worker is WorkerMode.INPROCESS:
        background = WorkerThread(settings, database.conninfo)
        background.start()
    log.info("serving with several processes", workers=workers,
             job_worker="parent" if background else "off")
    try:
        uvicorn.run("mimir.serving:child_app", factory=True, host=host, port=port,
                    workers=workers, log_config=None, access_log=False, proxy_headers=False,
                    http="mimir.serving:HeaderTimeoutProtocol")
    finally:
        if background is not None:
            background.stop()
