"""A procrastinate worker run as an asyncio task: in-process under `mimir serve`, or on its
own as `mimir worker`.

`JobWorker.start()` returns at once; a supervisor task opens the worker's own small pool,
requeues jobs left running by dead workers, runs the worker, and restarts it (with backoff)
if it stops or fails -- so an unreachable database delays the jobs, never the API.
`await JobWorker.stop()` lets running jobs finish for up to `shutdown_graceful_timeout`
seconds, aborts the rest (they are retried by their task's retry strategy), unregisters the
worker and closes its pool.

The worker has its own pool rather than the API's: procrastinate's LISTEN connection reuses
its pool's connection kwargs and adds `autocommit=True`, which clashes with the API pool's
own `autocommit` (psycopg raises TypeError), and jobs then never take request connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterable
from importlib.metadata import version
from typing import Any, Self

import psycopg
from procrastinate import App, JobContext
from procrastinate import exceptions as procrastinate_errors
from procrastinate.worker import Worker

from mimir.jobs import service
from mimir.jobs.app import make_app
from mimir.logging import get_logger

log = get_logger("mimir.jobs")

DEFAULT_CONCURRENCY = 2


async def record_failures(call_next: Any, context: JobContext, worker: Worker) -> Any:
    """Worker middleware: keep the error of every failed attempt in `job_errors`, then let
    procrastinate retry or fail the job as usual."""
    try:
        return await call_next()
    except Exception as exc:
        job = context.job
        try:
            async with worker.app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
                await service.record_job_error(conn, job_id=job.id, attempt=job.attempts + 1,
                                               exc=exc)
        except psycopg.Error as record_exc:  # the job's own outcome matters more
            log.warning("job error not recorded", job_id=job.id,
                        error_type=type(record_exc).__name__)
        raise


async def recover_stalled_jobs(app: App, stalled_after_s: float) -> list[int]:
    """Requeue jobs still marked running by workers that stopped beating (a crashed or
    killed process) for more than `stalled_after_s` seconds. Returns their ids."""
    await app.job_manager.prune_stalled_workers(stalled_after_s)
    recovered = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s):
        try:
            await app.job_manager.retry_job(job)
        except procrastinate_errors.ConnectorException:
            continue  # another process requeued or finished it meanwhile
        recovered.append(job.id)
    if recovered:
        log.warning("requeued jobs of stalled workers", job_ids=recovered)
    return recovered


class JobWorker:
    """One supervised procrastinate worker on the database at `conninfo`."""

    def __init__(
        self,
        conninfo: str,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        queues: Iterable[str] | None = None,
        name: str = "mimir",
        fetch_job_polling_interval: float = 5.0,
        shutdown_graceful_timeout: float = 10.0,
        stalled_after_s: float = 30.0,
        recovery_interval_s: float = 10.0,
        max_restart_delay_s: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.conninfo = conninfo
        self.concurrency = concurrency
        self.queues = list(queues) if queues else None
        self.name = name
        self.fetch_job_polling_interval = fetch_job_polling_interval
        self.shutdown_graceful_timeout = shutdown_graceful_timeout
        self.stalled_after_s = stalled_after_s
        self.recovery_interval_s = recovery_interval_s
        self.max_restart_delay_s = max_restart_delay_s
        self._task: asyncio.Task[None] | None = None

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the supervised worker in the background (on the running event loop)."""
        if self.is_running:
            return
        self._task = asyncio.create_task(self._supervise(), name=f"job worker {self.name}")

    async def stop(self) -> None:
        """Stop gracefully: running jobs get `shutdown_graceful_timeout` seconds to end."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self.shutdown_graceful_timeout + 10)
        if not done:
            log.error("job worker did not stop in time", worker=self.name)
            return
        with contextlib.suppress(asyncio.CancelledError):
            task.result()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _supervise(self) -> None:
        delay = 1.0
        while True:
            started = time.monotonic()
            # A task per run: whatever it raises is read below, and a stop (cancelling this
            # supervisor) reaches the run only through the graceful path in `finally`.
            run = asyncio.create_task(self._run_once(), name=f"job worker {self.name} run")
            try:
                await asyncio.wait({run})
            finally:
                if not run.done():
                    run.cancel()
                    await asyncio.wait({run})
            error = None if run.cancelled() else run.exception()
            if error is None:
                log.warning("job worker stopped; restarting", worker=self.name)
            else:
                log.warning("job worker failed; restarting", worker=self.name,
                            error_type=type(error).__name__, error_message=str(error)[:300])
            if time.monotonic() - started > 60:
                delay = 1.0
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_restart_delay_s)

    async def _run_once(self) -> None:
        app = make_app(self.conninfo, max_connections=self.concurrency + 3)
        try:
            await app.open_async()
            await self._check_schema_version(app)
            await recover_stalled_jobs(app, self.stalled_after_s)
            recovery = asyncio.create_task(self._recover_periodically(app))
            try:
                log.info("job worker started", worker=self.name, concurrency=self.concurrency,
                         queues=self.queues or "all")
                await app.run_worker_async(
                    name=self.name,
                    queues=self.queues,
                    concurrency=self.concurrency,
                    install_signal_handlers=False,
                    fetch_job_polling_interval=self.fetch_job_polling_interval,
                    shutdown_graceful_timeout=self.shutdown_graceful_timeout,
                    stalled_worker_timeout=self.stalled_after_s,
                    worker_middleware=[record_failures],
                )
            finally:
                recovery.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await recovery
                log.info("job worker stopped", worker=self.name)
        finally:
            await app.close_async()

    async def _recover_periodically(self, app: App) -> None:
        while True:
            await asyncio.sleep(self.recovery_interval_s)
            try:
                await recover_stalled_jobs(app, self.stalled_after_s)
            except procrastinate_errors.ConnectorException as exc:
                log.warning("stalled job recovery failed", error_type=type(exc).__name__)

    async def _check_schema_version(self, app: App) -> None:
        async with app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            applied = await service.queue_schema_version(conn)
        installed = version("procrastinate")
        if applied != installed:
            log.warning("job queue schema was applied by another procrastinate version; add a "
                        "migration with procrastinate's SQL migrations in between",
                        schema_version=applied, installed_version=installed)


async def run_until_signalled(worker: JobWorker) -> None:
    """Run `worker` until SIGINT or SIGTERM, then stop it gracefully (for `mimir worker`)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    worker.start()
    try:
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await worker.stop()
