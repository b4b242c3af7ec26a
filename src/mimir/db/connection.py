"""Turning settings into a connection string, and waiting for the database to answer.

Connection strings carry passwords, so they are never logged or put in error messages:
`describe()` gives the safe part (host, port, database, user).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from mimir.config import Settings
from mimir.db.queries import sync_queries

APPLICATION_NAME = "mimir"
REPLICA_APPLICATION_NAME = "mimir-replica"


class DatabaseUnreachable(Exception):
    """The database did not answer within the start-up timeout."""


def resolve_external_conninfo(settings: Settings) -> str:
    """The conninfo for `DATABASE_URL`, with `POSTGRES_PASSWORD` added when the URL has none."""
    if settings.database_url is None:
        raise ValueError("DATABASE_URL is not set")
    return _with_password(settings.database_url.get_secret_value(), settings, APPLICATION_NAME)


def resolve_replica_conninfos(settings: Settings) -> list[str]:
    """The conninfos of MIMIR_DATABASE_REPLICA_URLS (comma-separated), each with
    `POSTGRES_PASSWORD` added as for DATABASE_URL; empty when none is configured."""
    if settings.database_replica_urls is None:
        return []
    urls = [url.strip() for url in settings.database_replica_urls.get_secret_value().split(",")]
    return [_with_password(url, settings, REPLICA_APPLICATION_NAME) for url in urls if url]


def _with_password(url: str, settings: Settings, application_name: str) -> str:
    extra: dict[str, str] = {"application_name": application_name}
    if settings.postgres_password is not None and "password" not in conninfo_to_dict(url):
        extra["password"] = settings.postgres_password.get_secret_value()
    return make_conninfo(url, **extra)


def with_database(conninfo: str, dbname: str) -> str:
    """The same server, another database."""
    return make_conninfo(conninfo, dbname=dbname)


def describe(conninfo: str) -> str:
    """A human description of where a conninfo points, without credentials."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "an unparseable connection string"
    return f"{params.get('user') or 'postgres'}@{_where(params)}"


def location(conninfo: str) -> str:
    """`host:port/dbname` of a conninfo (a socket directory for the host): no user, no
    password, no other parameter."""
    try:
        return _where(conninfo_to_dict(conninfo))
    except psycopg.ProgrammingError:
        return "an unparseable connection string"


def _where(params: dict) -> str:
    host = params.get("host") or "localhost"
    where = host if host.startswith("/") else f"{host}:{params.get('port') or 5432}"
    return f"{where}/{params.get('dbname') or ''}"


def sqlalchemy_creator(conninfo: str) -> Callable[[], psycopg.Connection]:
    """A connection factory for SQLAlchemy (Alembic) that reuses our conninfo as is."""
    return lambda: psycopg.connect(conninfo)


def wait_for_database(conninfo: str, timeout_s: float) -> None:
    """Block until the server accepts a connection, retrying with backoff up to `timeout_s`."""
    started = time.monotonic()
    last_error: list[BaseException] = []

    def attempt() -> None:
        try:
            remaining = max(1, int(timeout_s - (time.monotonic() - started)))
            with psycopg.connect(conninfo, connect_timeout=min(remaining, 5)) as conn:
                sync_queries().health_ping(conn)
        except psycopg.OperationalError as exc:
            last_error[:] = [exc]
            raise

    try:
        for attempt_state in Retrying(
            retry=retry_if_exception_type(psycopg.OperationalError),
            wait=wait_exponential(multiplier=0.2, max=3),
            stop=stop_after_delay(timeout_s),
            reraise=True,
        ):
            with attempt_state:
                attempt()
    except psycopg.OperationalError:
        reason = _short_reason(last_error[0]) if last_error else "no answer"
        raise DatabaseUnreachable(
            f"cannot reach PostgreSQL at {describe(conninfo)} after {timeout_s:g}s: {reason}"
        ) from None


def _short_reason(exc: BaseException) -> str:
    """First line of a libpq error, which names the failure but not the password."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:200]
