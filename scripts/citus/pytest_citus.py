"""Run the suite's integration tests on the Citus cluster of start_cluster.sh.

    scripts/citus/start_cluster.sh
    MIMIR_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:9700/postgres \
    PYTHONPATH=src:scripts/citus pytest -p pytest_citus tests/integration/test_spans_api.py

What it changes, in the test process only (no main code path is touched):

- Each test's fresh database is a clone of one distributed template: make_mimir_db.sh
  (migrations + distribute.sql) once per session, then `CREATE DATABASE ... TEMPLATE` on the
  coordinator and on each worker (Citus keeps its metadata per database, and connects to
  the workers' database of the same name, so three consistent file copies make a working
  distributed database in well under a second instead of about 7 s).
- Nothing else: the pool finds the citus extension (MIMIR_DB_CITUS=auto) and runs each
  checkout in a transaction that starts with SET LOCAL mimir.namespace (mimir.db.pool), and
  every statement names its namespace (mimir.db.namespaced), as in production.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
TEMPLATE = "mimir_citus_tpl"
PORT = int(os.environ.get("CITUS_PORT", "9700"))
NODES = (PORT, PORT + 1, PORT + 2)
SETTINGS = [("citus.propagate_set_commands", "local")]
if os.environ.get("MIMIR_CITUS_NESTED") == "on":
    # Lets a trigger on a shard run a query on other shards (Citus warns: "with possible
    # incorrectness"); for seeing how far the suite gets, not a fix.
    SETTINGS.append(("citus.allow_nested_distributed_execution", "on"))


def _admin(port: int) -> str:
    return f"host=127.0.0.1 port={port} user=postgres dbname=postgres"


def _run_on_nodes(statement: sql.Composable) -> None:
    for port in NODES:
        with psycopg.connect(_admin(port), autocommit=True) as conn:
            conn.execute(statement)


def _build_template() -> None:
    """The distributed template, closed to connections so that it can be copied."""
    _run_on_nodes(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
    subprocess.run([str(HERE / "make_mimir_db.sh"), TEMPLATE], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for port in NODES:
        with psycopg.connect(_admin(port), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
                sql.Identifier(TEMPLATE)))
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (TEMPLATE,))


def _patch_test_server() -> None:
    from tests import conftest

    original_create = conftest.TestServer.create_database
    built: list[bool] = []

    def create_database(self, *, template: str | None = None) -> str:
        if template is None:
            return original_create(self)
        if not built:
            _build_template()
            built.append(True)
        name = f"mimir_test_{uuid.uuid4().hex[:12]}"
        _run_on_nodes(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
        # Per-database settings are not copied with the template.
        for setting, value in SETTINGS:
            with psycopg.connect(_admin(PORT), autocommit=True) as conn:
                conn.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(name), sql.Identifier(*setting.split(".")),
                    sql.Literal(value)))
        return name

    def drop_database(self, name: str) -> None:
        # A worker's cached connection back to the coordinator (Citus's maintenance) can
        # reopen a session between FORCE's termination and the drop: try a few times.
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        for attempt in range(5):
            try:
                _run_on_nodes(statement)
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 4:
                    raise
                time.sleep(0.5)

    conftest.TestServer.create_database = create_database
    conftest.TestServer.drop_database = drop_database


def pytest_configure(config) -> None:
    _patch_test_server()
