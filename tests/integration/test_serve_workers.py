"""Many API processes (issue 17), as real processes over real HTTP: `mimir serve --workers 2`
prepares the embedded database once and runs the job worker once, a killed API process is
replaced, SIGTERM stops everything; the rate limit is one budget across processes; two
`mimir worker` processes on one queue run every job exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from procrastinate.exceptions import AlreadyEnqueued
from psycopg.rows import dict_row

from mimir.auth.ratelimit import SharedRateLimiter
from mimir.config import Settings
from mimir.db.migrate import head_revision
from mimir.db.pool import make_pool
from mimir.jobs.app import PRUNE_TASK, defer_in_transaction
from tests.faults import MIMIR, mimir_env
from tests.process import free_port, terminate, wait_healthy
from tests.serve_processes import WorkerProcess, api_processes, wait_for_api_processes


def _log_messages(path: Path) -> list[str]:
    """The `message` of every JSON log entry (entries may span several lines)."""
    text = path.read_text(errors="replace")
    decoder = json.JSONDecoder()
    messages, index = [], 0
    while (start := text.find("{", index)) != -1:
        try:
            entry, index = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(entry, dict) and "message" in entry:
            messages.append(entry["message"])
    return messages


class Serve:
    """`mimir serve --workers N` on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**env, "MIMIR_HOST": "127.0.0.1", "MIMIR_PORT": str(self.port)}
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([MIMIR, "serve", "--workers", str(workers)], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_healthy(self.base_url, self.proc, 120, log_path=log_path)
        wait_for_api_processes(self.proc.pid, workers)
        deadline = time.monotonic() + 60  # every API process through its startup
        while _log_messages(log_path).count("mimir ready") < workers:
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)

    def stop(self) -> int:
        return terminate(self.proc, 60)


@pytest.fixture(scope="module")
def embedded_serve(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("serve-workers") / "data"
    env = mimir_env(MIMIR_DATA_DIR=str(data_dir), MIMIR_RATE_LIMIT_PER_MINUTE="0",
                    MIMIR_EMBEDDING_PROVIDER="none", LOG_LEVEL="INFO")
    serve = Serve(env, data_dir.parent / "serve.log", workers=2)
    serve.data_dir = data_dir
    yield serve
    serve.stop()


class TestServeWorkers:
    def test_database_prepared_once_and_job_worker_runs_once(self, embedded_serve):
        messages = _log_messages(embedded_serve.log_path)
        assert messages.count("starting embedded PostgreSQL") == 1
        assert messages.count("database migrated") == 1
        assert messages.count("mimir ready") == 2  # one per API process
        assert messages.count("job worker started") == 1  # in the parent only
        health = httpx.get(f"{embedded_serve.base_url}/health").json()
        assert health["database"]["embedded"] is True
        assert health["database"]["migration_revision"] == head_revision()

    def test_writes_and_reads_are_served(self, embedded_serve):
        with httpx.Client(base_url=embedded_serve.base_url, timeout=10) as http:
            created = http.post("/api/v1/artifacts", json={
                "kind": "note", "title": "two processes", "content": "served by either"})
            assert created.status_code == 201, created.text
            artifact = created.json()["id"]
            for _ in range(10):  # new connections: either process may answer
                got = httpx.get(f"{embedded_serve.base_url}/api/v1/artifacts/{artifact}",
                                headers={"Connection": "close"})
                assert got.status_code == 200

    def test_a_killed_api_process_is_replaced(self, embedded_serve):
        before = api_processes(embedded_serve.proc.pid)
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        answered = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the other process keeps answering meanwhile
            try:
                if httpx.get(f"{embedded_serve.base_url}/api/v1/artifacts", timeout=5,
                             headers={"Connection": "close"}).status_code == 200:
                    answered += 1
            except httpx.TransportError:
                pass
        assert answered > 0
        after = wait_for_api_processes(embedded_serve.proc.pid, 2, other_than={before[0]})
        assert before[1] in after
        deadline = time.monotonic() + 60  # the replacement through its startup
        while _log_messages(embedded_serve.log_path).count("mimir ready") < 3:
            assert time.monotonic() < deadline, "the replacement never became ready"
            time.sleep(0.2)
        wait_healthy(embedded_serve.base_url, embedded_serve.proc, 60)

    def test_sigterm_stops_every_process_and_the_database(self, embedded_serve):
        children = api_processes(embedded_serve.proc.pid)
        assert embedded_serve.stop() == 0
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or \
                "zombie" in Path(f"/proc/{pid}/status").read_text()
        assert not (embedded_serve.data_dir / "pgdata" / "postmaster.pid").exists()
        messages = _log_messages(embedded_serve.log_path)
        assert messages.count("mimir stopped") >= 2  # both API processes shut down gracefully
        assert "job worker stopped" in messages


class TestSharedRateLimit:
    async def test_two_processes_draw_from_one_budget(self, db_conninfo):
        """Two limiters on two pools, as two processes: 10 a minute is 10 in all."""
        settings = Settings(_env_file=None, MIMIR_WORKER="off")
        pools = [make_pool(db_conninfo, settings) for _ in range(2)]
        for pool in pools:
            await pool.open()
        try:
            limiters = [SharedRateLimiter(10), SharedRateLimiter(10)]
            waits = [await limiters[n % 2].take(pools[n % 2], "key:abc") for n in range(20)]
            other = await limiters[1].take(pools[1], "key:other")
        finally:
            for pool in pools:
                await pool.close()
        granted = sum(1 for wait in waits if wait == 0)
        assert granted == 10  # a per-process bucket would grant 20
        assert all(wait == 0 for wait in waits[:10])
        assert 0 < waits[10] <= 6.0 + 0.5  # one token every 6 s
        assert other == 0  # callers are separate

    async def test_refill_and_refusal_without_a_write(self, db_conninfo):
        settings = Settings(_env_file=None, MIMIR_WORKER="off")
        pool = make_pool(db_conninfo, settings)
        await pool.open()
        try:
            limiter = SharedRateLimiter(60)  # one a second, bursts of 60
            started, granted = time.monotonic(), 0
            while (wait := await limiter.take(pool, "ip:x")) == 0 and granted < 200:
                granted += 1
            elapsed = time.monotonic() - started
            assert 60 <= granted <= 60 + elapsed + 1  # the burst, plus what refilled meanwhile
            assert 0 < wait <= 1.0
            async with pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT tokens, counted_at FROM rate_limit_buckets WHERE caller = 'ip:x'")
                row_before = await cursor.fetchone()
            # Refused again from this process's memory: the bucket row is not touched.
            assert await limiter.take(pool, "ip:x") > 0
            async with pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT tokens, counted_at FROM rate_limit_buckets WHERE caller = 'ip:x'")
                assert await cursor.fetchone() == row_before
            await asyncio.sleep(wait + 0.15)
            assert await limiter.take(pool, "ip:x") == 0  # refilled
        finally:
            await pool.close()

    def test_serve_with_two_processes_limits_across_them(self, db_conninfo, tmp_path):
        env = mimir_env(db_conninfo, MIMIR_DATA_DIR=str(tmp_path / "data"),
                        MIMIR_RATE_LIMIT_PER_MINUTE="12", MIMIR_WORKER="off",
                        MIMIR_EMBEDDING_PROVIDER="none", LOG_LEVEL="INFO")
        serve = Serve(env, tmp_path / "serve.log", workers=2)
        try:
            statuses = [httpx.get(f"{serve.base_url}/api/v1/artifacts",
                                  headers={"Connection": "close"}).status_code
                        for _ in range(30)]
        finally:
            serve.stop()
        assert statuses.count(200) <= 13  # 12, and one refilled at most (one per 5 s)
        assert statuses.count(429) >= 17
        with psycopg.connect(db_conninfo) as conn:
            assert conn.execute("SELECT count(*) FROM rate_limit_buckets "
                                "WHERE caller = 'ip:127.0.0.1'").fetchone()[0] == 1


class TestWorkersShareTheQueue:
    async def test_two_worker_processes_run_every_job_once(self, db_conninfo, tmp_path):
        env = mimir_env(db_conninfo, MIMIR_DATA_DIR=str(tmp_path / "data"),
                        MIMIR_AUTO_MIGRATE="false", MIMIR_EMBEDDING_PROVIDER="none",
                        LOG_LEVEL="INFO")
        jobs = 120
        async with await psycopg.AsyncConnection.connect(
                db_conninfo, autocommit=True, row_factory=dict_row) as conn:
            async with conn.transaction():
                ids = [await defer_in_transaction(conn, PRUNE_TASK) for _ in range(jobs)]
                # A queueing lock admits one queued job per lock, whichever process defers.
                once = {"queueing_lock": "once"}
                locked = await defer_in_transaction(conn, PRUNE_TASK, job_options=once)
                with pytest.raises(AlreadyEnqueued):
                    await defer_in_transaction(conn, PRUNE_TASK, job_options=once)
            workers = [WorkerProcess(env, tmp_path / f"worker{n}.log", "--concurrency", "4")
                       for n in range(2)]
            try:
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.wait_started()
                deadline = time.monotonic() + 90
                while True:
                    cursor = await conn.execute(
                        "SELECT count(*) AS n FROM procrastinate_jobs WHERE id = ANY(%s) "
                        "AND status = 'succeeded'", (ids + [locked],))
                    if (await cursor.fetchone())["n"] == jobs + 1:
                        break
                    assert time.monotonic() < deadline, "jobs did not all succeed"
                    await asyncio.sleep(0.2)
                # Read before the workers stop: unregistering a worker clears its worker_id.
                cursor = await conn.execute(
                    "SELECT count(DISTINCT worker_id) AS n FROM procrastinate_jobs "
                    "WHERE id = ANY(%s)", (ids,))
                distinct_workers = (await cursor.fetchone())["n"]
            finally:
                codes = [worker.stop() for worker in workers]
            cursor = await conn.execute(
                "SELECT job_id, count(*) AS started FROM procrastinate_events "
                "WHERE job_id = ANY(%s) AND type = 'started' GROUP BY job_id", (ids,))
            started = {row["job_id"]: row["started"] for row in await cursor.fetchall()}
        assert codes == [0, 0]
        assert started == {job: 1 for job in ids}  # every job started exactly once
        assert distinct_workers == 2, "both processes should have taken jobs"
