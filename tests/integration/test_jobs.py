"""The background job queue: migration 0002, jobs deferred atomically with the caller's
transaction, a supervised worker (processing, retries with backoff, failures with their
errors, crash recovery, graceful stop), retention, and the /api/v1/jobs endpoints."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import httpx
import psycopg
import pytest
from procrastinate import JobContext, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from psycopg.rows import dict_row

from mimir.config import Settings
from mimir.db import migrate
from mimir.db.lifecycle import PreparedDatabase
from mimir.jobs import service
from mimir.jobs.app import PRUNE_TASK, defer_in_transaction, job_app, make_app
from mimir.jobs.rest import router as jobs_router
from mimir.jobs.worker import JobWorker

QUEUE = "tests"
RECORD = "tests.jobs.record"
SLOW = "tests.jobs.slow"
FAILS = "tests.jobs.always_fails"
RECORDED: list[dict] = []


@job_app.task(name=RECORD, queue=QUEUE)
async def record(**kwargs) -> None:
    RECORDED.append(kwargs)


@job_app.task(name=SLOW, queue=QUEUE)
async def slow(value: str) -> None:
    await asyncio.sleep(0.6)
    RECORDED.append({"value": value})


# Waits of 0 s, then 1 s (linear_wait * attempts): the backoff grows, the test stays fast.
@job_app.task(name=FAILS, queue=QUEUE, pass_context=True,
              retry=RetryStrategy(max_attempts=2, linear_wait=1))
async def always_fails(context: JobContext, **kwargs) -> None:
    raise ValueError(f"boom on attempt {context.job.attempts + 1}")


@pytest.fixture(autouse=True)
def _clear_recorded():
    RECORDED.clear()
    yield
    RECORDED.clear()


@pytest.fixture
async def conn(db_conninfo):
    """A direct connection like the API pool's (autocommit, dict rows)."""
    connection = await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True,
                                                       row_factory=dict_row)
    yield connection
    await connection.close()


@pytest.fixture
async def workers(db_conninfo):
    """Start fast-polling workers on the test database; all are stopped afterwards."""
    started: list[JobWorker] = []

    def start(**options) -> JobWorker:
        options = {"fetch_job_polling_interval": 0.1, "shutdown_graceful_timeout": 5.0,
                   **options}
        worker = JobWorker(db_conninfo, **options)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


@pytest.fixture
async def jobs_client(db_conninfo, tmp_path):
    """The real app (its in-process worker off) with the jobs router."""
    from mimir.app import create_app

    settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"),
                        MIMIR_WORKER="off")
    application = create_app(settings, PreparedDatabase(conninfo=db_conninfo),
                             close_database=False)
    if not any(getattr(route, "path", "").startswith("/api/v1/jobs")
               for route in application.routes):
        application.include_router(jobs_router)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://mimir.test") as http:
            yield http


async def _defer(conn, task_name: str = RECORD, **args) -> int:
    async with conn.transaction():
        return await defer_in_transaction(conn, task_name, **args)


async def _job(conn, job_id: int) -> dict | None:
    cursor = await conn.execute(
        "SELECT id, status::text AS status, queue_name, task_name, args, attempts "
        "FROM procrastinate_jobs WHERE id = %s", (job_id,))
    return await cursor.fetchone()


async def _wait_for_status(conn, job_id: int, *statuses: str, within_s: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        job = await _job(conn, job_id)
        if job is not None and job["status"] in statuses:
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} is {job and job['status']}, not {statuses}")
        await asyncio.sleep(0.05)


async def _events(conn, job_id: int) -> list[dict]:
    cursor = await conn.execute(
        "SELECT type::text AS type, at FROM procrastinate_events WHERE job_id = %s "
        "ORDER BY id", (job_id,))
    return await cursor.fetchall()


async def _finish(conn, job_id: int, status: str, days_ago: float = 0) -> None:
    """Run a queued job's state machine to `status` by procrastinate's own functions."""
    await conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s",
                       (job_id,))
    await conn.execute("SELECT procrastinate_finish_job_v1(%s, %s, false)", (job_id, status))
    if days_ago:
        await conn.execute("UPDATE procrastinate_events SET at = now() - make_interval("
                           "days => %s) WHERE job_id = %s", (days_ago, job_id))


async def _ids(conn, query: str) -> set[int]:
    cursor = await conn.execute(query)
    return {row["id"] for row in await cursor.fetchall()}


class TestMigration:
    def test_upgrade_creates_queue_and_downgrade_removes_it(self, empty_db_conninfo):
        """0002 installs procrastinate's schema and job_errors; downgrading to 0001 removes
        every procrastinate_* table, function and type; upgrading again works."""
        tables_q = ("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND "
                    "(tablename LIKE 'procrastinate%' OR tablename = 'job_errors')")
        functions_q = "SELECT proname FROM pg_proc WHERE proname LIKE 'procrastinate%'"
        types_q = ("SELECT typname FROM pg_type WHERE typname LIKE 'procrastinate%' "
                   "OR typname LIKE '\\_procrastinate%'")
        migrate.upgrade(empty_db_conninfo, "0002")
        with psycopg.connect(empty_db_conninfo) as sync_conn:
            tables = {r[0] for r in sync_conn.execute(tables_q).fetchall()}
            functions = {r[0] for r in sync_conn.execute(functions_q).fetchall()}
            comment = sync_conn.execute(
                "SELECT obj_description('procrastinate_jobs'::regclass, 'pg_class')").fetchone()
        assert {"procrastinate_jobs", "procrastinate_events", "procrastinate_workers",
                "procrastinate_periodic_defers", "job_errors"} <= tables
        assert {"procrastinate_defer_jobs_v1", "procrastinate_fetch_job_v2"} <= functions
        assert comment[0] == f"procrastinate {version('procrastinate')}"

        migrate.downgrade(empty_db_conninfo, "0001")
        assert migrate.current_revision(empty_db_conninfo) == "0001"
        with psycopg.connect(empty_db_conninfo) as sync_conn:
            leftovers = [r[0] for q in (tables_q, functions_q, types_q)
                         for r in sync_conn.execute(q).fetchall()]
            artifacts = sync_conn.execute("SELECT to_regclass('artifacts')").fetchone()[0]
        assert leftovers == []
        assert artifacts is not None

        migrate.upgrade(empty_db_conninfo, "0002")
        assert migrate.current_revision(empty_db_conninfo) == "0002"


class TestDeferInTransaction:
    async def test_job_of_a_committed_transaction_exists(self, conn):
        """Deferred inside a transaction that commits: the job is queued with its args and
        its task's queue."""
        job_id = await _defer(conn, RECORD, value="kept", n=1)
        job = await _job(conn, job_id)
        assert job["status"] == "todo"
        assert job["queue_name"] == QUEUE
        assert job["task_name"] == RECORD
        assert job["args"] == {"value": "kept", "n": 1}

    async def test_job_of_a_rolled_back_transaction_does_not_exist(self, conn):
        """When a later statement of the caller's transaction fails, the job goes too."""
        deferred = []
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with conn.transaction():
                deferred.append(await defer_in_transaction(conn, RECORD, value="lost"))
                await conn.execute("SELECT 1 / 0")
        assert deferred and await _job(conn, deferred[0]) is None
        cursor = await conn.execute("SELECT count(*) AS n FROM procrastinate_jobs")
        assert (await cursor.fetchone())["n"] == 0

    async def test_needs_an_open_transaction(self, conn):
        """Outside a transaction the job would commit on its own: refused."""
        with pytest.raises(RuntimeError, match="open transaction"):
            await defer_in_transaction(conn, RECORD, value="x")

    async def test_unknown_task_is_refused(self, conn):
        """A task name nobody registered is a LookupError naming the registered ones."""
        with pytest.raises(LookupError, match="unknown job task 'nope'.*mimir.jobs.prune"):
            await _defer(conn, "nope")

    async def test_taken_queueing_lock_leaves_the_transaction_usable(self, conn):
        """A second job with the same queueing lock is refused, and the caller's transaction
        still commits the first one."""
        async with conn.transaction():
            first = await defer_in_transaction(conn, RECORD,
                                               job_options={"queueing_lock": "one"}, n=1)
            with pytest.raises(AlreadyEnqueued):
                await defer_in_transaction(conn, RECORD, job_options={"queueing_lock": "one"},
                                           n=2)
            await conn.execute("SELECT 1")
        assert (await _job(conn, first))["status"] == "todo"
        cursor = await conn.execute("SELECT count(*) AS n FROM procrastinate_jobs")
        assert (await cursor.fetchone())["n"] == 1

    async def test_job_options_override_the_queue(self, conn):
        """job_options set per-job options such as the queue."""
        job_id = await _defer(conn, RECORD, job_options={"queue": "elsewhere"}, n=1)
        assert (await _job(conn, job_id))["queue_name"] == "elsewhere"


class TestWorker:
    async def test_worker_processes_a_job(self, conn, workers):
        """A started worker runs a queued job with its arguments and marks it succeeded."""
        workers()
        job_id = await _defer(conn, RECORD, value="hello")
        job = await _wait_for_status(conn, job_id, "succeeded")
        assert RECORDED == [{"value": "hello"}]
        assert job["attempts"] == 1

    async def test_failing_task_is_retried_with_backoff_then_failed(self, conn, workers,
                                                                     jobs_client):
        """A task that always fails runs 1 + max_attempts times, waiting longer before each
        retry, ends failed, keeps each attempt's error and shows in GET /jobs/failed."""
        workers()
        job_id = await _defer(conn, FAILS, item="x")
        job = await _wait_for_status(conn, job_id, "failed", within_s=15)
        assert job["attempts"] == 3

        events = await _events(conn, job_id)
        types = [e["type"] for e in events]
        assert types.count("started") == 3
        assert types.count("deferred_for_retry") == 2
        assert types[-1] == "failed"
        # The wait before each retry: from the failure that requeued it to its next start.
        requeued = [e["at"] for e in events if e["type"] == "deferred_for_retry"]
        starts = [e["at"] for e in events if e["type"] == "started"]
        waits = [(start - failure).total_seconds()
                 for failure, start in zip(requeued, starts[1:], strict=True)]
        assert waits[0] < 0.5
        assert 0.8 < waits[1] < 2.0

        errors = await service.job_errors(conn, job_id)
        assert [(e["attempt"], e["error_type"], e["message"]) for e in errors] == [
            (n, "ValueError", f"boom on attempt {n}") for n in (1, 2, 3)]

        response = await jobs_client.get("/api/v1/jobs/failed")
        assert response.status_code == 200
        body = response.json()
        assert body["total"] == 1 and body["has_more"] is False
        item = body["items"][0]
        assert item["id"] == job_id
        assert item["task_name"] == FAILS
        assert item["queue"] == QUEUE
        assert item["attempts"] == 3
        assert item["args"] == {"item": "x"}
        assert item["failed_at"]
        assert item["error"] == {"type": "ValueError", "message": "boom on attempt 3",
                                 "attempt": 3}

    async def test_job_survives_a_crash_and_a_new_app_processes_it(self, conn, db_conninfo):
        """A job deferred through one App that never ran a worker is still queued for a new
        App instance on a new connection, which processes it."""
        first = make_app(db_conninfo)
        await first.open_async()
        job_id = await first.configure_task(RECORD).defer_async(value="survivor")
        await first.close_async()
        assert (await _job(conn, job_id))["status"] == "todo"

        second = make_app(db_conninfo)
        assert second is not first
        await second.open_async()
        try:
            assert [j.id for j in await second.job_manager.list_jobs_async(id=job_id)] == [
                job_id]
            await second.run_worker_async(queues=[QUEUE], wait=False,
                                          install_signal_handlers=False)
        finally:
            await second.close_async()
        assert (await _job(conn, job_id))["status"] == "succeeded"
        assert RECORDED == [{"value": "survivor"}]

    async def test_job_of_a_dead_worker_is_requeued_and_processed(self, conn, workers):
        """A job left 'doing' by a worker that stopped beating (a killed process) is
        requeued when a worker starts, and runs."""
        job_id = await _defer(conn, RECORD, value="orphan")
        cursor = await conn.execute("SELECT worker_id FROM procrastinate_register_worker_v1()")
        dead = (await cursor.fetchone())["worker_id"]
        await conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - "
                           "interval '1 hour' WHERE id = %s", (dead,))
        await conn.execute("SELECT procrastinate_fetch_job_v2(%s, %s)", ([QUEUE], dead))
        assert (await _job(conn, job_id))["status"] == "doing"

        workers()
        await _wait_for_status(conn, job_id, "succeeded")
        assert RECORDED == [{"value": "orphan"}]
        cursor = await conn.execute("SELECT count(*) AS n FROM procrastinate_workers "
                                    "WHERE id = %s", (dead,))
        assert (await cursor.fetchone())["n"] == 0

    async def test_stop_lets_a_running_job_finish(self, conn, workers):
        """stop() waits for the running job, which succeeds, and unregisters the worker."""
        worker = workers()
        job_id = await _defer(conn, SLOW, value="finished")
        await _wait_for_status(conn, job_id, "doing")
        await worker.stop()
        assert not worker.is_running
        assert (await _job(conn, job_id))["status"] == "succeeded"
        assert RECORDED == [{"value": "finished"}]
        cursor = await conn.execute("SELECT count(*) AS n FROM procrastinate_workers")
        assert (await cursor.fetchone())["n"] == 0

    async def test_worker_waits_for_an_unreachable_database(self, conn, db_conninfo):
        """A worker started on a database that does not exist does not raise; it keeps
        retrying and stops cleanly."""
        bad = db_conninfo.replace("dbname=", "dbname=missing_") if "dbname=" in db_conninfo \
            else db_conninfo + " dbname=missing_db"
        worker = JobWorker(bad, max_restart_delay_s=0.2)
        worker.start()
        await asyncio.sleep(0.5)
        assert worker.is_running
        await asyncio.wait_for(worker.stop(), 5)
        assert not worker.is_running


def _lifespan_runs_worker() -> bool:
    import mimir.app

    return "worker" in Settings.model_fields and hasattr(mimir.app, "JobWorker")


@pytest.mark.skipif(not _lifespan_runs_worker(),
                    reason="needs MIMIR_WORKER in Settings and the worker in the app lifespan")
class TestInProcessWorker:
    async def test_app_lifespan_runs_and_stops_the_worker(self, conn, db_conninfo, tmp_path):
        """With MIMIR_WORKER=inprocess the app's lifespan runs a worker that processes
        jobs, and stops it (unregistered) on shutdown."""
        from mimir.app import create_app

        settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"),
                            MIMIR_WORKER="inprocess", MIMIR_WORKER_CONCURRENCY=3)
        application = create_app(settings, PreparedDatabase(conninfo=db_conninfo),
                                 close_database=False)
        async with application.router.lifespan_context(application):
            worker = application.state.job_worker
            assert worker.is_running and worker.concurrency == 3
            job_id = await _defer(conn, RECORD, value="in-process")
            await _wait_for_status(conn, job_id, "succeeded")
        assert not worker.is_running
        assert RECORDED == [{"value": "in-process"}]
        cursor = await conn.execute("SELECT count(*) AS n FROM procrastinate_workers")
        assert (await cursor.fetchone())["n"] == 0

    async def test_off_runs_no_worker(self, conn, db_conninfo, tmp_path):
        """With MIMIR_WORKER=off the app runs no worker and jobs stay queued."""
        from mimir.app import create_app

        settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"),
                            MIMIR_WORKER="off")
        application = create_app(settings, PreparedDatabase(conninfo=db_conninfo),
                                 close_database=False)
        async with application.router.lifespan_context(application):
            assert application.state.job_worker is None
            job_id = await _defer(conn, RECORD, value="waits")
            await asyncio.sleep(0.3)
            assert (await _job(conn, job_id))["status"] == "todo"


class TestRetention:
    async def test_prune_task_deletes_only_jobs_past_retention(self, conn, db_conninfo):
        """The prune task deletes finished jobs older than 7 days (failed: 30 days) with
        their errors, and errors of vanished jobs; it keeps everything newer."""
        old_ok = await _defer(conn, RECORD, n=1)
        new_ok = await _defer(conn, RECORD, n=2)
        old_failed = await _defer(conn, RECORD, n=3)
        ancient_failed = await _defer(conn, RECORD, n=4)
        queued = await _defer(conn, RECORD, n=5)
        await _finish(conn, old_ok, "succeeded", days_ago=8)
        await _finish(conn, new_ok, "succeeded")
        await _finish(conn, old_failed, "failed", days_ago=8)
        await _finish(conn, ancient_failed, "failed", days_ago=31)
        await service.record_job_error(conn, job_id=ancient_failed, attempt=1,
                                       exc=RuntimeError("old"))
        await service.record_job_error(conn, job_id=old_failed, attempt=1,
                                       exc=RuntimeError("kept"))
        await service.record_job_error(conn, job_id=987654321, attempt=1,
                                       exc=RuntimeError("orphan"))
        prune_id = await _defer(conn, PRUNE_TASK)

        app = make_app(db_conninfo)
        await app.open_async()
        try:
            await app.run_worker_async(queues=["maintenance"], wait=False,
                                       install_signal_handlers=False)
        finally:
            await app.close_async()

        assert (await _job(conn, prune_id))["status"] == "succeeded"
        remaining = await _ids(conn, "SELECT id FROM procrastinate_jobs")
        assert remaining >= {new_ok, old_failed, queued, prune_id}
        assert not remaining & {old_ok, ancient_failed}
        cursor = await conn.execute("SELECT job_id FROM job_errors")
        assert [r["job_id"] for r in await cursor.fetchall()] == [old_failed]


class TestStatsApi:
    async def _populate(self, conn) -> None:
        for n in range(3):
            await _defer(conn, RECORD, n=n)
        done = await _defer(conn, RECORD, n=9)
        await _finish(conn, done, "succeeded")
        failed = await _defer(conn, RECORD, job_options={"queue": "other"}, n=10)
        await _finish(conn, failed, "failed")
        running = await _defer(conn, RECORD, job_options={"queue": "other"}, n=11)
        await conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s",
                           (running,))

    async def test_counts_by_status_and_queue(self, conn, jobs_client):
        """GET /api/v1/jobs counts every status overall and per queue."""
        await self._populate(conn)
        response = await jobs_client.get("/api/v1/jobs")
        assert response.status_code == 200
        body = response.json()
        zero = {"todo": 0, "doing": 0, "succeeded": 0, "failed": 0, "cancelled": 0,
                "aborted": 0}
        assert body["total"] == 6
        assert body["by_status"] == {**zero, "todo": 3, "doing": 1, "succeeded": 1,
                                     "failed": 1}
        assert body["queues"] == [
            {"queue": "other", "total": 2, "by_status": {**zero, "doing": 1, "failed": 1}},
            {"queue": QUEUE, "total": 4, "by_status": {**zero, "todo": 3, "succeeded": 1}},
        ]
        assert body["workers"] == 0

    async def test_empty_queue(self, jobs_client):
        """With no jobs every count is zero and there are no queues."""
        body = (await jobs_client.get("/api/v1/jobs")).json()
        assert body["total"] == 0 and body["queues"] == [] and body["workers"] == 0
        assert set(body["by_status"].values()) == {0}

    async def test_live_workers_are_counted(self, jobs_client, workers):
        """A running worker shows in `workers`."""
        workers()
        for _ in range(100):
            body = (await jobs_client.get("/api/v1/jobs")).json()
            if body["workers"] == 1:
                break
            await asyncio.sleep(0.05)
        assert body["workers"] == 1

    async def test_health_counts(self, conn):
        """The /health job counts: queued = todo, running = doing, failed."""
        await self._populate(conn)
        assert await service.health_counts(conn) == {"queued": 3, "running": 1, "failed": 1}


class TestFailedApi:
    async def _failed(self, conn, task_name: str, queue: str, message: str) -> int:
        job_id = await _defer(conn, task_name, job_options={"queue": queue}, n=1)
        await _finish(conn, job_id, "failed")
        await service.record_job_error(conn, job_id=job_id, attempt=1, exc=OSError(message))
        return job_id

    async def test_most_recent_first_with_paging(self, conn, jobs_client):
        """Failures come newest first; limit/offset page them; total counts them all."""
        first = await self._failed(conn, RECORD, QUEUE, "first")
        second = await self._failed(conn, RECORD, QUEUE, "second")
        await _defer(conn, RECORD, n=2)  # queued, not a failure

        body = (await jobs_client.get("/api/v1/jobs/failed", params={"limit": 1})).json()
        assert [i["id"] for i in body["items"]] == [second]
        assert body["total"] == 2 and body["has_more"] is True
        assert body["items"][0]["error"]["message"] == "second"
        body = (await jobs_client.get("/api/v1/jobs/failed",
                                      params={"limit": 1, "offset": 1})).json()
        assert [i["id"] for i in body["items"]] == [first]
        assert body["has_more"] is False

    async def test_filters_by_queue_and_task(self, conn, jobs_client):
        """`queue` and `task_name` narrow the failures."""
        await self._failed(conn, RECORD, QUEUE, "a")
        other = await self._failed(conn, RECORD, "other", "b")
        body = (await jobs_client.get("/api/v1/jobs/failed", params={"queue": "other"})).json()
        assert [i["id"] for i in body["items"]] == [other] and body["total"] == 1
        body = (await jobs_client.get("/api/v1/jobs/failed",
                                      params={"task_name": "tests.jobs.nothing"})).json()
        assert body == {"items": [], "total": 0, "has_more": False}

    async def test_failure_without_recorded_error(self, conn, jobs_client):
        """A failed job with no recorded error (e.g. its task was unknown) has error null."""
        job_id = await _defer(conn, RECORD, n=1)
        await _finish(conn, job_id, "failed")
        item = (await jobs_client.get("/api/v1/jobs/failed")).json()["items"][0]
        assert item["id"] == job_id and item["error"] is None and item["attempts"] == 1

    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"offset": -1},
                                        {"queue": "a\x00b"}, {"task_name": "x" * 129}])
    async def test_bad_parameters_are_422(self, jobs_client, params):
        """Out-of-range paging, NUL characters and over-long filters are clear 422s."""
        response = await jobs_client.get("/api/v1/jobs/failed", params=params)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid"


class TestErrorSummary:
    def test_errors_are_stored_safely(self):
        """Stored error messages lose NUL characters and URL credentials and are bounded."""
        kind, message = service.error_summary(
            RuntimeError("connect postgresql://mimir:s3cret@db/x failed\x00" + "y" * 3000))
        assert kind == "RuntimeError"
        assert "s3cret" not in message and "\x00" not in message
        assert message.startswith("connect postgresql://[redacted]@db/x failed")
        assert len(message) == service.MAX_ERROR_CHARS
