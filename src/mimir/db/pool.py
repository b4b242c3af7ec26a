"""The one async connection pool of a process.

While PostgreSQL is down the pool fails fast: a request waits about
`db_unavailable_timeout_s` for a connection (not the full acquisition timeout), and both a
failed acquisition and a connection lost mid-request surface as `DatabaseUnavailable`, a
503 in the error shape wherever it is raised (routes, middleware, GraphQL resolvers). After
a restart the pool reconnects within about a second, without restarting Mímir.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mimir.config import Settings
from mimir.db import citus as citus_mode
from mimir.db.citus import set_local_namespace
from mimir.db.session import has_citus, set_namespace, use_app_role
from mimir.db.statement_log import StatementLoggingCursor
from mimir.errors import MimirError, ServiceUnavailable
from mimir.namespaces import context as namespace_context

# orjson decodes json/jsonb columns several times faster than the standard library.
set_json_loads(orjson.loads)
set_json_dumps(orjson.dumps)

# psycopg_pool retries a lost connection with a backoff that doubles without a cap (1, 2,
# 4, ... s) for `reconnect_timeout`: after a long outage the next attempt could be minutes
# away. A short series (attempts at 0, 1 and 2 s) bounds the gap between attempts to 1 s;
# when a series gives up, the next request that finds the pool empty starts a new one at
# once (pool growth), so under traffic a restarted server is found within about a second.
RECONNECT_SERIES_S = 2.0

UNAVAILABLE_MESSAGE = "the database is unavailable; retry shortly"


class DatabaseUnavailable(ServiceUnavailable, PoolTimeout):
    """No connection could be had, or it was lost mid-request: a 503 the client may retry.

    Also a `PoolTimeout` (hence a psycopg `OperationalError`), so code that handles those
    keeps working."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


class Reachability:
    """Whether the pool's latest attempt to open a connection failed."""

    def __init__(self) -> None:
        self.unreachable_since: float | None = None

    @property
    def unreachable(self) -> bool:
        return self.unreachable_since is not None

    def failed(self) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = time.monotonic()

    def connected(self) -> None:
        self.unreachable_since = None


def _tracked_connection_class(reachability: Reachability) -> type[psycopg.AsyncConnection]:
    class TrackedConnection(psycopg.AsyncConnection):
        """Reports each connection attempt of the pool to `reachability`."""

        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any):
            try:
                conn = await super().connect(conninfo, **kwargs)
            except psycopg.OperationalError:
                reachability.failed()
                raise
            reachability.connected()
            return conn

    TrackedConnection.__qualname__ = "TrackedConnection"  # for the pool's log lines
    return TrackedConnection


class MimirPool(AsyncConnectionPool):
    """An `AsyncConnectionPool` that fails fast while the database is unreachable."""

    def __init__(self, conninfo: str, *, unavailable_timeout: float, citus: str = "off",
                 **kwargs: Any) -> None:
        self.reachability = Reachability()
        self.unavailable_timeout = unavailable_timeout
        # Citus mode (MIMIR_DB_CITUS): True, False, or None until the first checkout looks.
        self.citus: bool | None = {"on": True, "off": False}.get(citus)
        super().__init__(conninfo, connection_class=_tracked_connection_class(self.reachability),
                         **kwargs)

    async def getconn(self, timeout: float | None = None):  # noqa: ASYNC109, RUF100 - the pool's API
        """As `AsyncConnectionPool.getconn`, but the wait is cut into slices of
        `unavailable_timeout`: after a slice without a connection, a request gives up at
        once if the database is unreachable, and keeps waiting (up to `timeout`) if the pool
        is merely busy. So a request that was already waiting when the database went away
        also fails within about `unavailable_timeout`."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            try:
                return await super().getconn(max(0.001, min(remaining, self.unavailable_timeout)))
            except PoolTimeout as exc:
                if self.reachability.unreachable or time.monotonic() >= deadline:
                    raise DatabaseUnavailable() from exc

    @asynccontextmanager
    async def connection(self, timeout: float | None = None  # noqa: ASYNC109, RUF100 - the pool's API
                         ) -> AsyncIterator[Any]:
        """As `AsyncConnectionPool.connection`; when the connection is lost inside the block
        (the server shut down or went away), the error the block raised becomes
        `DatabaseUnavailable`, whatever wraps the driver's error (procrastinate raises its
        own `ConnectorException`, for one). The connection is in the namespace in force
        (`mimir.namespaces.context`; none: it sees nothing) before the block runs.

        On Citus the block runs inside one transaction that begins with `SET LOCAL
        mimir.namespace` (mimir.db.session); a `conn.transaction()` inside it is a savepoint.
        """
        async with super().connection(timeout) as conn:
            try:
                if self.citus is None:
                    self.citus = await has_citus(conn)
                if self.citus:
                    citus_mode.mark(conn)
                    async with conn.transaction():
                        await set_local_namespace(conn, namespace_context.current())
                        yield conn
                else:
                    await set_namespace(conn, namespace_context.current())
                    yield conn
            except Exception as exc:
                # Judged before the pool takes the connection back: closed here means lost.
                if conn.closed and not isinstance(exc, MimirError):
                    raise DatabaseUnavailable() from exc
                raise


def make_pool(conninfo: str, settings: Settings, *, name: str = "mimir") -> MimirPool:
    """A closed pool; the FastAPI lifespan opens and closes it.

    Connections are autocommit: a service that needs a transaction opens one explicitly
    with `conn.transaction()`, so no request leaves a transaction idle. Each new connection
    switches to the app role (`mimir.db.session`) unless `MIMIR_DB_APP_ROLE=off`.
    """
    return MimirPool(
        conninfo,
        unavailable_timeout=settings.db_unavailable_timeout_s,
        citus=settings.db_citus,
        min_size=settings.db_pool_min_size,
        max_size=max(settings.db_pool_max_size, settings.db_pool_min_size),
        timeout=settings.db_acquire_timeout_s,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True, "row_factory": dict_row,
                # LOG_LEVEL=DEBUG logs each statement (never its parameter values).
                "cursor_factory": StatementLoggingCursor},
        name=name,
        reconnect_timeout=RECONNECT_SERIES_S,
        configure=use_app_role if settings.db_app_role else None,
    )
