"""Run the suite's integration tests on the Citus cluster of start_cluster.sh (investigation).

    scripts/citus/start_cluster.sh
    MIMIR_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:9700/postgres \
    PYTHONPATH=src:scripts/citus pytest -p pytest_citus tests/integration/test_spans_api.py

What it changes, in the test process only (no main code path is touched):

- Each test's fresh database is a clone of one distributed template: make_mimir_db.sh
  (migrations + distribute.sql) once per session, then `CREATE DATABASE ... TEMPLATE` on the
  coordinator and on each worker (Citus keeps its metadata per database, and connects to
  the workers' database of the same name, so three consistent file copies make a working
  distributed database in well under a second instead of about 7 s).
- MIMIR_CITUS_NAMESPACE=transaction (the default): each pooled checkout runs inside one
  transaction that starts with `SET LOCAL mimir.namespace`, the only form Citus passes on to
  the workers, where the shards' row-level security is enforced. The pool's own
  session-level set_config is never seen by a worker. MIMIR_CITUS_NAMESPACE=session keeps
  the pool as it is (every read through RLS then finds nothing: fails closed).
- MIMIR_CITUS_ROUTED=on: the statements of routed_queries.sql (with a bound namespace)
  replace their namesakes of sql/.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import asynccontextmanager
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
        _run_on_nodes(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    conftest.TestServer.create_database = create_database
    conftest.TestServer.drop_database = drop_database


def _patch_pool() -> None:
    from mimir.db import pool, session

    original = pool.MimirPool.connection

    @asynccontextmanager
    async def connection(self, timeout=None):  # noqa: ASYNC109 - the pool's API
        async with original(self, timeout) as conn:
            namespace = session.namespace_of(conn) or ""
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL mimir.namespace = {}").format(
                    sql.Literal(namespace)))
                yield conn

    pool.MimirPool.connection = connection


def _patch_routed_queries() -> None:
    """The statements of routed_queries.sql in place of the same-named ones, with the
    namespace of the running request bound as :namespace."""
    import aiosql

    from mimir.db.queries import queries
    from mimir.namespaces import context as namespace_context

    def binding(query):
        def bound(conn, **params):
            return query(conn, namespace=namespace_context.current(), **params)
        return bound

    routed = aiosql.from_path(HERE / "routed_queries.sql", "apsycopg")
    for name in routed.available_queries:
        if "." in name or name.endswith("_cursor"):
            continue
        setattr(queries, name, binding(getattr(routed, name)))


def pytest_configure(config) -> None:
    _patch_test_server()
    if os.environ.get("MIMIR_CITUS_NAMESPACE", "transaction") == "transaction":
        _patch_pool()
    if os.environ.get("MIMIR_CITUS_ROUTED") == "on":
        _patch_routed_queries()
