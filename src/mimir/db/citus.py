"""Connections of their own (jobs, imports, the CLI) on a Citus database.

Citus passes the namespace on to its workers, where the shards' row-level security runs,
only as `SET LOCAL mimir.namespace` inside a transaction (docs/scaling.md). The pool puts
each checkout in one transaction (`mimir.db.pool`); a connection of its own commits in
steps instead, so on Citus `mimir.db.session.connect_app` makes it a `CitusConnection`:

- every outermost `transaction()` begins with `SET LOCAL mimir.namespace`;
- a statement run outside any transaction (autocommit) runs in a transaction of its own
  that begins the same way, and its rows stay readable on the cursor after the commit.

Code written for autocommit connections (commit per statement or per `transaction()`
block) thus works unchanged in both modes. Whether a database runs Citus is looked up once
per connection string.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from mimir.db.namespaced import CONNECTION_MARK

_KNOWN: dict[str, bool] = {}


async def set_local_namespace(conn: psycopg.AsyncConnection, namespace: str | None) -> None:
    """Put the connection's current transaction into `namespace` (None: none), as SET LOCAL,
    with the session's time zone: a statement pushed down to a worker renders times as text
    there (the GraphQL compiler's JSON), in the worker's zone unless told. One round trip;
    SET takes no bound parameter: the values (a validated namespace name, the zone the
    server reported) are quoted as literals."""
    value = namespace or ""
    settings = {"mimir.namespace": value}
    zone = conn.info.parameter_status("TimeZone")
    if zone:
        settings["TimeZone"] = zone
    await set_local(conn, settings)
    setattr(conn, CONNECTION_MARK, value)


# Set on a connection the pool hands out in its Citus mode (CitusConnection: always).
_ON_CITUS = "_mimir_citus"


def mark(conn: psycopg.AsyncConnection) -> None:
    setattr(conn, _ON_CITUS, True)


def on_citus(conn: Any) -> bool:
    """Whether `conn` talks to Citus (known from the pool's mode or the connection's class)."""
    return isinstance(conn, CitusConnection) or getattr(conn, _ON_CITUS, False)


async def set_local(conn: psycopg.AsyncConnection, settings: dict[str, Any]) -> None:
    """SET LOCAL each setting in one round trip (settings of the transaction that Citus
    passes on to the workers, unlike set_config(..., true)). Names are constants of the
    caller; values are quoted as literals."""
    await conn.execute(sql.SQL("; ").join(
        sql.SQL("SET LOCAL {} = {}").format(sql.SQL(name), sql.Literal(str(value)))
        for name, value in settings.items()))


def known(conninfo: str) -> bool | None:
    """Whether the database of `conninfo` runs Citus, if already looked up."""
    return _KNOWN.get(conninfo)


def remember(conninfo: str, citus: bool) -> None:
    _KNOWN[conninfo] = citus


class CitusConnection(psycopg.AsyncConnection):
    """An autocommit connection whose transactions all begin in its namespace."""

    @asynccontextmanager
    async def transaction(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        outermost = self.info.transaction_status == TransactionStatus.IDLE
        async with super().transaction(*args, **kwargs) as tx:
            if outermost:
                await set_local_namespace(self, getattr(self, CONNECTION_MARK, None))
            yield tx


class CitusCursor(psycopg.AsyncCursor):
    """Runs a statement given outside a transaction in a transaction of its own."""

    def _alone(self) -> bool:
        conn = self.connection
        return conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> CitusCursor:
        if self._alone():
            async with self.connection.transaction():
                return await super().execute(query, params, **kwargs)
        return await super().execute(query, params, **kwargs)

    async def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        if self._alone():
            async with self.connection.transaction():
                return await super().executemany(query, params_seq, **kwargs)
        return await super().executemany(query, params_seq, **kwargs)
