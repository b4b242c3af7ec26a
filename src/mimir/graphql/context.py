"""The typed per-request context: pool, settings, and fresh dataloaders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from mimir.config import Settings
from mimir.graphql.loaders import Loaders


class ReadPool:
    """The pool as GraphQL reads use it: each connection in a transaction whose statements
    have the GraphQL statement timeout (MIMIR_GRAPHQL_STATEMENT_TIMEOUT)."""

    def __init__(self, pool: AsyncConnectionPool, timeout: str) -> None:
        self.pool, self.timeout = pool, timeout

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self.pool.connection() as conn, conn.transaction():
            await self._limit(conn)
            yield conn

    async def _limit(self, conn: Any) -> None:
        """The GraphQL statement timeout, for the connection's transaction."""
        await conn.execute("SELECT set_config('statement_timeout', %s, true)", (self.timeout,))

    @asynccontextmanager
    async def spare_connection(self) -> AsyncIterator[Any]:
        """A second connection with the same timeout when the pool has one idle now, else
        None (mimir.db.routing.RoutedPool.spare_connection)."""
        spare = getattr(self.pool, "spare_connection", None)
        if spare is None:
            yield None
            return
        async with spare() as conn:
            if conn is None:
                yield None
                return
            async with conn.transaction():
                await self._limit(conn)
                yield conn


class Context(BaseContext):
    def __init__(self, pool: AsyncConnectionPool, settings: Settings,
                 api_key_scope: str | None = None, api_key_prefix: str | None = None) -> None:
        super().__init__()
        # Mutations (the services open their own transactions): the primary, always.
        self.pool = getattr(pool, "writes", pool)
        self.reads = ReadPool(pool, settings.graphql_statement_timeout)
        self.settings = settings
        self.loaders = Loaders(self.reads)
        self.api_key_scope = api_key_scope
        self.api_key_prefix = api_key_prefix  # who, for the audit log (never the key)


async def get_context(request: Request) -> Context:
    """Called by the GraphQL router once per request."""
    state = request.scope.get("state", {})
    return Context(request.app.state.pool, request.app.state.settings,
                   state.get("api_key_scope"), state.get("api_key_prefix"))


Info = StrawberryInfo[Context, None]
