"""Shared fixtures: one real PostgreSQL per test session (MIMIR_TEST_DATABASE_URL, a
testcontainers PostgreSQL when a Docker engine answers, the embedded server otherwise: see
tests/db_backend.py), a migrated template database, and a fresh clone per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
from psycopg import sql

from mimir.config import Settings
from mimir.db import migrate
from mimir.db.connection import with_database
from mimir.db.embedded import EmbeddedPostgres
from mimir.db.lifecycle import PreparedDatabase
from tests.db_backend import DOCKER, EMBEDDED, Backend, DockerPostgres, choose_backend

TEMPLATE_DB = "mimir_test_template"


@cache
def session_backend() -> Backend:
    return choose_backend(os.environ)


def pytest_report_header(config) -> str:
    """The database the integration tests use, first thing in the run's output."""
    return session_backend().header()


@dataclass
class TestServer:
    """The session's PostgreSQL: an admin conninfo and the migrated template's name."""

    admin_conninfo: str
    template: str

    def create_database(self, *, template: str | None = None) -> str:
        name = f"mimir_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template or "template0")
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def conninfo(self, dbname: str) -> str:
        return with_database(self.admin_conninfo, dbname)


def _server_dir() -> Path:
    """A data directory for a PostgreSQL that runs as another OS user (as root, the
    embedded server runs as `pgserver`). Not under pytest's tmp_path: each new pytest
    session resets that tree to mode 0700, which would lock a running server out."""
    return Path(tempfile.mkdtemp(prefix="mimir-test-pg-"))


@pytest.fixture
def pg_data_dir() -> Iterator[Path]:
    """A data directory for a test's own embedded server, removed afterwards."""
    path = _server_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    backend = session_backend()
    embedded = container = None
    if backend.kind == EMBEDDED:
        data_dir = _server_dir()
        embedded = EmbeddedPostgres(data_dir, database="postgres")
        admin = embedded.start()
    elif backend.kind == DOCKER:
        container = DockerPostgres()
        admin = container.start()
    else:
        admin = psycopg.conninfo.make_conninfo(os.environ["MIMIR_TEST_DATABASE_URL"])
    server = TestServer(admin_conninfo=admin, template=TEMPLATE_DB)
    server.drop_database(TEMPLATE_DB)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    migrate.upgrade(server.conninfo(TEMPLATE_DB))
    try:
        yield server
    finally:
        server.drop_database(TEMPLATE_DB)
        if embedded is not None:
            embedded.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        if container is not None:
            container.stop()


def _migrated_database(pg_server: TestServer) -> Iterator[str]:
    name = pg_server.create_database(template=pg_server.template)
    try:
        yield pg_server.conninfo(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def db_conninfo(pg_server: TestServer) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    yield from _migrated_database(pg_server)


@pytest.fixture
def target_conninfo(pg_server: TestServer) -> Iterator[str]:
    """A second fresh, migrated database (to restore into)."""
    yield from _migrated_database(pg_server)


@pytest.fixture
def empty_db_conninfo(pg_server: TestServer) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = pg_server.create_database()
    try:
        yield pg_server.conninfo(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"), MIMIR_WORKER="off")


@pytest.fixture
async def app(db_conninfo: str, settings: Settings):
    """The real app on a fresh database, with its lifespan (pool) running."""
    from mimir.app import create_app

    application = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mimir.test") as http:
        yield http


@pytest.fixture(scope="module")
def namespaces_db(pg_server: TestServer) -> Iterator[str]:
    """A fresh, migrated database for one test module (tests/namespace_world.py)."""
    yield from _migrated_database(pg_server)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(namespaces_db: str, tmp_path_factory):
    """Two namespaces with overlapping content and their keys, seeded once per module."""
    from tests.namespace_world import build_world

    async for seeded in build_world(namespaces_db, tmp_path_factory.mktemp("namespaces")):
        yield seeded
