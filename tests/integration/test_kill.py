"""SIGKILL faults with real processes: `mimir serve` killed in the middle of a batch of
writes and in the middle of an HTTP import, `mimir import chatgpt` killed part-way. After a
restart every acknowledged write is there, the invariant checker finds nothing half-written
(no artifact without version 1, no span without its version, no provenance without its
target), and the interrupted import resumes to exactly what one clean import gives."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from mimir.integrity import IntegrityReport, check_conninfo
from mimir.transfer.chatgpt import import_chatgpt
from tests.faults import MIMIR, Server, mimir_env
from tests.shared_data import shared_data_dir

_SHARED = shared_data_dir()
EXPORT = (_SHARED / "chatgpt-export" / "conversations.json") if _SHARED else None
CONVERSATIONS = 192  # in the shared export
needs_export = pytest.mark.skipif(EXPORT is None or not EXPORT.is_file(),
                                  reason="the shared ChatGPT export is not present")

WRITERS = 6
ACKS_BEFORE_KILL = 300


def _rows(conninfo: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def _scalar(conninfo: str, query: str, *params: Any) -> Any:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query, params).fetchone()[0]


def _conversations(conninfo: str) -> int:
    return _scalar(conninfo, "SELECT count(*) FROM artifacts WHERE source = 'chatgpt_export' "
                   "AND artifact_type = 'conversation'")


def _content_counts(conninfo: str) -> dict[str, Any]:
    """What an import leaves, for comparing two databases."""
    return {
        "artifacts": _rows(conninfo, "SELECT artifact_type::text, count(*) AS n FROM artifacts "
                           "GROUP BY artifact_type ORDER BY artifact_type"),
        "external_ids": _scalar(conninfo, "SELECT count(DISTINCT (source, external_id)) "
                                "FROM artifacts"),
        "versions": _scalar(conninfo, "SELECT count(*) FROM artifact_versions"),
        "max_version": _scalar(conninfo, "SELECT max(version_number) FROM artifact_versions"),
        "spans": _scalar(conninfo, "SELECT count(*) FROM spans"),
        "provenance": _scalar(conninfo, "SELECT count(*) FROM provenance"),
        "content": _scalar(conninfo, "SELECT md5(string_agg(content_hash, ',' ORDER BY "
                           "content_hash)) FROM artifact_versions"),
    }


def _wait_for(predicate, within_s: float, what: str, interval_s: float = 0.02) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        time.sleep(interval_s)


def _check(conninfo: str) -> IntegrityReport:
    """The invariant checker, from synchronous test code."""
    return asyncio.run(check_conninfo(conninfo))


def _assert_clean(conninfo: str) -> None:
    """The checker finds nothing at all: no violation, no warning."""
    report = _check(conninfo)
    assert report.ok and report.findings == [], report.format_text()


@pytest.fixture(scope="module")
async def reference_counts(pg_server) -> dict[str, Any]:
    """The counts of one clean, uninterrupted import of the shared export."""
    name = pg_server.create_database(template=pg_server.template)
    conninfo = pg_server.conninfo(name)
    try:
        summary = await import_chatgpt(conninfo, EXPORT)
        assert summary.created == CONVERSATIONS and summary.skipped == 0
        return _content_counts(conninfo)
    finally:
        pg_server.drop_database(name)


# ---------------------------------------------------------------------------------------
# Mid-writes


class Writer(threading.Thread):
    """Posts chains of linked writes until the server goes away; records each 2xx."""

    def __init__(self, base_url: str, number: int, acked: dict[str, list], lock: threading.Lock,
                 statuses: Counter) -> None:
        super().__init__(daemon=True, name=f"writer-{number}")
        self.base_url = base_url
        self.number = number
        self.acked = acked
        self.lock = lock
        self.statuses = statuses
        self.error: BaseException | None = None

    def _post(self, client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body)
        with self.lock:
            self.statuses[response.status_code] += 1
        assert response.is_success, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def _ack(self, kind: str, value: Any) -> None:
        with self.lock:
            self.acked[kind].append(value)

    def run(self) -> None:
        previous = None
        try:
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                for round_ in range(10**6):
                    text = f"writer {self.number} round {round_}: the quick brown fox jumps"
                    artifact = self._post(client, "/api/v1/artifacts", {
                        "kind": "note", "content": text, "title": f"w{self.number}-{round_}",
                        "provenance": {"model": "kill-test"}})
                    self._ack("artifacts", artifact["id"])
                    self._ack("versions", (artifact["versions"][0]["id"], artifact["id"], 1))
                    version = self._post(client, f"/api/v1/artifacts/{artifact['id']}/versions",
                                         {"content": text + " over the lazy dog"})
                    self._ack("versions", (version["id"], artifact["id"], 2))
                    span = self._post(client, "/api/v1/spans", {
                        "version_id": version["id"], "start_offset": 0, "end_offset": 6,
                        "span_type": "quote", "provenance": {"model": "kill-test"}})
                    self._ack("spans", span["id"])
                    if previous is not None:
                        relation = self._post(client, "/api/v1/relations", {
                            "source_type": "artifact", "source_id": artifact["id"],
                            "relation_type": "follows", "target_type": "artifact",
                            "target_id": previous})
                        self._ack("relations", relation["id"])
                        provenance = self._post(client, "/api/v1/provenance", {
                            "target_type": "relation", "target_id": relation["id"],
                            "model": "kill-test", "evidence_span_ids": [span["id"]]})
                        self._ack("provenance", provenance["id"])
                    previous = artifact["id"]
        except httpx.TransportError as exc:  # the server was killed
            self.error = exc


class TestKillMidWrites:
    def test_acknowledged_writes_survive_sigkill(self, db_conninfo, tmp_path, capsys):
        """Six clients write artifacts, versions, spans, relations and provenance; SIGKILL
        the server mid-load and restart it: every 2xx-acknowledged row is there, and the
        checker finds no half-written artifact, orphan span or dangling provenance."""
        env = mimir_env(db_conninfo, MIMIR_DATA_DIR=str(tmp_path / "data"),
                        MIMIR_EMBEDDING_PROVIDER="none", MIMIR_WORKER="inprocess")
        started = time.monotonic()
        server = Server(env, tmp_path / "serve.log").start()
        up = time.monotonic()
        acked: dict[str, list] = defaultdict(list)
        lock = threading.Lock()
        statuses: Counter = Counter()
        writers = [Writer(server.base_url, n, acked, lock, statuses) for n in range(WRITERS)]
        try:
            for writer in writers:
                writer.start()

            def enough() -> bool:
                with lock:
                    return sum(len(v) for v in acked.values()) >= ACKS_BEFORE_KILL
            _wait_for(enough, 60, f"{ACKS_BEFORE_KILL} acknowledged writes")
            server.kill()
            killed = time.monotonic()
            for writer in writers:
                writer.join(timeout=40)
                assert not writer.is_alive(), f"{writer.name} hangs after the kill"
        finally:
            server.stop()
        # Every writer was writing when the server died, and nothing failed before.
        assert all(isinstance(w.error, httpx.TransportError) for w in writers), \
            [repr(w.error) for w in writers]
        assert set(statuses) <= {200, 201}, statuses

        restarted = Server(env, tmp_path / "serve.log").start()
        back = time.monotonic()
        try:
            for kind, table in (("artifacts", "artifacts"), ("spans", "spans"),
                                ("relations", "relations"), ("provenance", "provenance")):
                ids = acked[kind]
                found = _scalar(db_conninfo, f"SELECT count(*) FROM {table} "
                                "WHERE id = ANY(%s::uuid[])", ids)
                assert found == len(ids), f"{len(ids) - found} acknowledged {kind} lost"
            versions = {(str(r["id"]), str(r["artifact_id"]), r["version_number"])
                        for r in _rows(db_conninfo, "SELECT id, artifact_id, version_number "
                                       "FROM artifact_versions")}
            lost = set(acked["versions"]) - versions
            assert not lost, f"{len(lost)} acknowledged versions lost"
            with httpx.Client(base_url=restarted.base_url, timeout=30) as client:
                latest = defaultdict(int)
                for _, artifact_id, number in acked["versions"]:
                    latest[artifact_id] = max(latest[artifact_id], number)
                for artifact_id, number in latest.items():
                    response = client.get(f"/api/v1/artifacts/{artifact_id}")
                    assert response.status_code == 200
                    assert response.json()["latest_version_number"] >= number
        finally:
            restarted.stop()
        assert len(acked["artifacts"]) >= ACKS_BEFORE_KILL // 6
        _assert_clean(db_conninfo)
        with capsys.disabled():
            print(f"\n[kill mid-writes] start {up - started:.1f} s, "
                  f"{sum(map(len, acked.values()))} acknowledged writes in {killed - up:.1f} s, "
                  f"all present; restart {back - killed:.1f} s; checker clean")


# ---------------------------------------------------------------------------------------
# Mid-import


@needs_export
class TestKillMidImport:
    def _kill_when_partial(self, conninfo: str, stop, proc_alive) -> int:
        """Kill as soon as some (not all) conversations are in; how many there are then."""
        _wait_for(lambda: not proc_alive() or _conversations(conninfo) >= 20, 120,
                  "the import to write 20 conversations")
        assert proc_alive(), "the import ended before it could be killed"
        stop()
        partial = _conversations(conninfo)
        assert 20 <= partial < CONVERSATIONS, partial
        return partial

    def test_cli_import_killed_then_rerun(self, db_conninfo, tmp_path, reference_counts):
        """`mimir import chatgpt` SIGKILLed part-way leaves only whole conversations (the
        checker is clean); running it again completes with exactly the counts of one clean
        import: nothing duplicated, nothing missing."""
        env = mimir_env(db_conninfo, MIMIR_DATA_DIR=str(tmp_path / "data"),
                        MIMIR_EMBEDDING_PROVIDER="none")
        command = [MIMIR, "import", "chatgpt", str(EXPORT), "--no-progress"]
        with open(tmp_path / "import.log", "wb") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            partial = self._kill_when_partial(
                db_conninfo, lambda: (proc.kill(), proc.wait(timeout=30)),
                lambda: proc.poll() is None)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        assert proc.returncode == -9
        _assert_clean(db_conninfo)

        rerun = subprocess.run(command, env=env, check=False, capture_output=True, text=True,
                               timeout=300)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert (f"{CONVERSATIONS - partial} created, 0 updated, {partial} unchanged, "
                "0 skipped") in rerun.stdout
        assert _content_counts(db_conninfo) == reference_counts
        _assert_clean(db_conninfo)

    def test_http_import_killed_resumes_after_restart(self, db_conninfo, tmp_path,
                                                      reference_counts):
        """An import uploaded over HTTP, its server SIGKILLed part-way: the checker is clean;
        the import stays `running` with its job held by the dead worker (reported as
        stalled once that worker is overdue); after a restart the job is requeued and the
        import resumes to `succeeded` with the counts of one clean import."""
        data_dir = tmp_path / "data"
        env = mimir_env(db_conninfo, MIMIR_DATA_DIR=str(data_dir),
                        MIMIR_EMBEDDING_PROVIDER="none", MIMIR_WORKER="inprocess")
        server = Server(env, tmp_path / "serve.log").start()
        try:
            with EXPORT.open("rb") as handle:
                response = httpx.post(f"{server.base_url}/api/v1/imports", timeout=60,
                                      data={"kind": "chatgpt"},
                                      files={"file": ("conversations.json", handle)})
            assert response.status_code == 202, response.text
            import_id = response.json()["id"]
            partial = self._kill_when_partial(db_conninfo, server.kill,
                                              lambda: server.proc.poll() is None)
        finally:
            server.stop()
        [row] = _rows(db_conninfo, "SELECT status FROM imports WHERE id = %s", import_id)
        assert row["status"] == "running"
        assert list((data_dir / "uploads").iterdir()), "the uploaded file is gone"
        report = _check(db_conninfo)
        assert report.ok and report.findings == [], report.format_text()

        # The dead worker's job is taken back once its worker has been silent for 30 s (the
        # stalled-worker timeout); age its heartbeat instead of waiting, and the check
        # reports the import as stalled (a warning, not a violation).
        aged = _scalar(db_conninfo, "WITH w AS (UPDATE procrastinate_workers SET last_heartbeat"
                       " = now() - interval '2 minutes' WHERE id IN (SELECT worker_id FROM "
                       "procrastinate_jobs WHERE task_name = 'imports.run' AND status = 'doing')"
                       " RETURNING id) SELECT count(*) FROM w")
        assert aged == 1
        report = _check(db_conninfo)
        assert report.ok and [f.check for f in report.findings] == ["imports_stalled"]
        assert report.findings[0].rows[0]["subject"] == import_id

        restarted = Server(env, tmp_path / "serve.log").start()
        try:
            result: dict[str, Any] = {}

            def finished() -> bool:
                body = httpx.get(f"{restarted.base_url}/api/v1/imports/{import_id}",
                                 timeout=10).json()
                result.update(body)
                return body["status"] in ("succeeded", "failed")
            _wait_for(finished, 120, "the import to finish after the restart", 0.2)
        finally:
            restarted.stop()
        assert result["status"] == "succeeded", result
        summary = result["summary"]
        assert (summary["created"], summary["unchanged"]) == (CONVERSATIONS - partial, partial)
        assert summary["skipped"] == 0
        assert _content_counts(db_conninfo) == reference_counts
        assert not (data_dir / "uploads").exists() or not list((data_dir / "uploads").iterdir())
        _assert_clean(db_conninfo)


# ---------------------------------------------------------------------------------------
# Stopped mid-import (SIGTERM): the worker's graceful timeout passes and the job is aborted


async def _async_scalar(conninfo: str, query: str, *params: Any) -> Any:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return (await (await conn.execute(query, params)).fetchone())[0]


async def _poll(predicate, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@needs_export
class TestStopMidImport:
    async def test_worker_stopped_mid_import_requeues_it(self, db_conninfo, tmp_path,
                                                         reference_counts):
        """A worker stopped while an import runs, past its graceful timeout (the job is
        aborted, as on SIGTERM during a long import): the import goes back to `queued` with
        its uploaded file kept and its job requeued; the next worker finishes it with the
        counts of one clean import."""
        from mimir.app import create_app
        from mimir.config import Settings
        from mimir.db.lifecycle import PreparedDatabase
        from mimir.jobs.worker import JobWorker

        settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "data"),
                            MIMIR_WORKER="off", MIMIR_EMBEDDING_PROVIDER="none")
        uploads = tmp_path / "data" / "uploads"
        application = create_app(settings, PreparedDatabase(conninfo=db_conninfo),
                                 close_database=False)

        def worker() -> JobWorker:
            return JobWorker(db_conninfo, queues=["imports"], fetch_job_polling_interval=0.1,
                             shutdown_graceful_timeout=0.2)

        async def _at_least(n: int) -> bool:
            return await _async_scalar(
                db_conninfo, "SELECT count(*) FROM artifacts WHERE source = 'chatgpt_export' "
                "AND artifact_type = 'conversation'") >= n

        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                first = worker()
                first.start()
                try:
                    response = await client.post(
                        "/api/v1/imports", data={"kind": "chatgpt"},
                        files={"file": ("conversations.json", EXPORT.read_bytes())})
                    assert response.status_code == 202, response.text
                    import_id = response.json()["id"]
                    await _poll(lambda: _at_least(20), 120, "20 conversations")
                finally:
                    await first.stop()
                partial = _conversations(db_conninfo)
                assert partial < CONVERSATIONS, "the import ended before the stop"
                body = (await client.get(f"/api/v1/imports/{import_id}")).json()
                assert body["status"] == "queued", body
                assert len(list(uploads.iterdir())) == 1, "the uploaded file is gone"
                job_status = await _async_scalar(
                    db_conninfo, "SELECT status::text FROM procrastinate_jobs WHERE "
                    "task_name = 'imports.run' AND args ->> 'import_id' = %s", import_id)
                assert job_status == "todo"
                report = await check_conninfo(db_conninfo)
                assert report.findings == [], report.format_text()

                second = worker()
                second.start()
                try:
                    async def done() -> bool:
                        status = (await client.get(f"/api/v1/imports/{import_id}")).json()
                        return status["status"] in ("succeeded", "failed")
                    await _poll(done, 120, "the requeued import to finish")
                finally:
                    await second.stop()
                body = (await client.get(f"/api/v1/imports/{import_id}")).json()
        assert body["status"] == "succeeded", body
        assert body["summary"]["created"] + body["summary"]["unchanged"] == CONVERSATIONS
        assert body["summary"]["created"] == CONVERSATIONS - partial
        assert _content_counts(db_conninfo) == reference_counts
        assert not list(uploads.iterdir()), "the file outlived its finished import"
        assert (await check_conninfo(db_conninfo)).findings == []
