"""`mimir serve` as a user runs it: a real process, real HTTP, the embedded PostgreSQL in a
persistent data directory; stops cleanly on SIGTERM and finds its rows on the next start."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.process import free_port, wait_healthy

MIMIR = str(Path(sys.executable).parent / "mimir")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "POSTGRES_PASSWORD", "MIMIR_TEST_DATABASE_URL"}}
    env.update(extra)
    return env


def _postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestServe:
    def test_serve_stop_and_restart_keeps_rows(self, pg_data_dir):
        """Serve on the embedded server, write a row, SIGTERM (exit 0, PostgreSQL stopped),
        serve again: /health is ok and the row is still there."""
        data_dir = pg_data_dir / "data"
        port = free_port()
        env = _env(MIMIR_DATA_DIR=str(data_dir), MIMIR_PORT=str(port))

        proc = subprocess.Popen([MIMIR, "serve"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            health = httpx.get(f"http://127.0.0.1:{port}/health").json()
            assert health["database"]["embedded"] is True
            pgdata = data_dir / "pgdata"
            with psycopg.connect(host=str(pgdata), dbname="mimir", user="postgres",
                                 autocommit=True) as conn:
                artifact_id = conn.execute(
                    "INSERT INTO artifacts (artifact_type, title) VALUES ('note', 'kept') RETURNING id"
                ).fetchone()[0]
                content = "remember me"
                conn.execute(
                    "INSERT INTO artifact_versions (artifact_id, version_number, content, content_hash)"
                    " VALUES (%s, 1, %s, %s)",
                    (artifact_id, content, hashlib.sha256(content.encode()).hexdigest()),
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        assert proc.returncode in (0, -signal.SIGTERM)
        assert not _postmaster_running(data_dir / "pgdata"), "PostgreSQL outlived mimir"

        proc = subprocess.Popen([MIMIR, "serve"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            with psycopg.connect(host=str(data_dir / "pgdata"), dbname="mimir", user="postgres") as conn:
                row = conn.execute(
                    "SELECT a.title, v.content FROM artifacts a JOIN artifact_versions v"
                    " ON v.artifact_id = a.id WHERE a.id = %s", (artifact_id,)
                ).fetchone()
            assert row == ("kept", "remember me")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        assert not _postmaster_running(data_dir / "pgdata")


class TestStartupFailures:
    def test_unreachable_database_exits_with_one_line(self, tmp_path):
        """An unreachable DATABASE_URL: retry for the bounded time, then exit 1 with one line
        that says where, and never the password."""
        port = free_port()  # nothing listens there
        env = _env(DATABASE_URL=f"postgresql://mimir:hunter2-not-shown-ever@127.0.0.1:{port}/mimir",
                   MIMIR_DB_CONNECT_TIMEOUT="2", LOG_LEVEL="CRITICAL")
        started = time.monotonic()
        result = subprocess.run([MIMIR, "serve"], env=env, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "cannot reach PostgreSQL" in lines[0] and f"127.0.0.1:{port}" in lines[0]
        assert "hunter2" not in result.stderr + result.stdout
        assert elapsed >= 1.5, "it gave up without retrying"

    @pytest.mark.parametrize("name, value", [("POSTGRES_PASSWORD", "tooshort"),
                                             ("MIMIR_PORT", "not-a-port")])
    def test_bad_configuration_exits_with_one_line(self, name, value):
        """A bad setting stops the process with exit 2 and one line naming the variable."""
        result = subprocess.run([MIMIR, "serve"], env=_env(**{name: value}),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], result.stderr
        assert "tooshort" not in result.stderr
