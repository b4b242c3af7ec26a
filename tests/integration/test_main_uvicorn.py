"""`uvicorn mimir.main:app` (the plan's command) serves the same app as `mimir serve`: the
embedded PostgreSQL when DATABASE_URL is unset, stopped again on shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from tests.process import free_port, wait_healthy


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "POSTGRES_PASSWORD", "MIMIR_TEST_DATABASE_URL",
                        "ENVIRONMENT", "MIMIR_REQUIRE_AUTH"}}
    env.update(extra)
    return env


def test_plain_uvicorn_serves_mimir_on_the_embedded_database(pg_data_dir):
    """`python -m uvicorn mimir.main:app` answers /health with the embedded database, serves
    the API, and stops PostgreSQL when it gets SIGTERM."""
    port = free_port()
    env = _env(MIMIR_DATA_DIR=str(pg_data_dir / "data"), MIMIR_WORKER="off",
               LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "mimir.main:app", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, within_s=90)
        health = httpx.get(f"{base}/health").json()
        assert health["database"]["embedded"] is True
        assert httpx.get(f"{base}/api/v1/artifacts").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Mímir"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # uvicorn re-raises SIGTERM once it has shut down cleanly.
    assert proc.returncode in (0, -signal.SIGTERM), proc.stderr.read()
    pid_file = pg_data_dir / "data" / "pgdata" / "postmaster.pid"
    assert not pid_file.exists(), "PostgreSQL outlived uvicorn"


def test_bad_setting_exits_with_one_line():
    """A bad setting stops plain uvicorn with exit 2 and one line naming the variable."""
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "mimir.main:app", "--port", str(free_port())],
        env=_env(MIMIR_PORT="not-a-port"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if "MIMIR_PORT" in line]


def test_importing_main_starts_nothing():
    """Importing mimir.main builds no app (the module is safe to import anywhere)."""
    import mimir.main

    assert mimir.main.build_app.cache_info().currsize == 0
