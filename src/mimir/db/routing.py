"""Which server a request's connections come from: the primary, or a current replica.

`app.state.pool` is a `RoutedPool`. Its `connection()` reads the request's `Route` (a
context variable set by `mimir.rest.read_routing`): a request whose reads may be slightly
stale takes its connections from one replica, chosen once at its first connection, that is
within the staleness bound and has replayed past the position the request must see
(read-your-writes); every other request, and any connection taken outside a request, comes
from the primary. So call sites keep writing `pool.connection()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from mimir.db.pool import MimirPool
from mimir.db.queries import queries
from mimir.db.recovery_conflicts import replay_cancelled
from mimir.db.replicas import Replica, ReplicaSet
from mimir.logging import get_logger

log = get_logger("mimir.db.routing")

_UNDECIDED = object()


@dataclass
class Route:
    """How one request's connections are routed."""

    reads_may_lag: bool  # its reads may come from a replica
    may_write: bool = False  # not a GET/HEAD/OPTIONS: its primary connections may write
    min_lsn: int | None = None  # the WAL position its reads must include
    # The primary's WAL position after its writes committed, for X-Mimir-Read-After (None:
    # it wrote nothing): noted when a write connection goes back to the pool, and by
    # `position_after_writes` for those still held when the response starts (FastAPI
    # releases a dependency's connection only after the response has gone).
    written_lsn: int | None = None
    held: list[Any] = field(default_factory=list)  # primary connections checked out now
    replica: Any = _UNDECIDED  # the Replica its reads use, None for the primary
    used_primary: bool = False  # it took a primary connection that may write
    # Replay cancelled a read on its replica: "conflict", "connection_lost" (None: not).
    replica_conflict: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_route: ContextVar[Route | None] = ContextVar("mimir_route", default=None)


def current_route() -> Route | None:
    return _route.get()


def enter_route(route: Route):
    """Put `route` in force; returns the token for `leave_route`."""
    return _route.set(route)


def leave_route(token) -> None:
    _route.reset(token)


class PrimaryOnly:
    """The pool as writes use it (GraphQL mutations): always the primary."""

    def __init__(self, routed: RoutedPool) -> None:
        self.routed = routed

    def connection(self, timeout: float | None = None):  # noqa: ASYNC109, RUF100
        return self.routed.primary_connection(timeout)


class RoutedPool:
    """The primary's pool, plus replicas for the reads that may be slightly stale.

    Anything but `connection()` (statistics, `max_size`, ...) is the primary pool's."""

    def __init__(self, primary: MimirPool, replicas: ReplicaSet | None = None) -> None:
        self.primary = primary
        self.replicas = replicas
        self.writes = PrimaryOnly(self)

    def __getattr__(self, name: str) -> Any:
        if name == "primary":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.primary, name)

    async def open(self, wait: bool = False) -> None:
        await self.primary.open(wait=wait)
        if self.replicas is not None:
            await self.replicas.open()

    async def close(self) -> None:
        if self.replicas is not None:
            await self.replicas.close()
        await self.primary.close()

    @asynccontextmanager
    async def primary_connection(self, timeout: float | None = None  # noqa: ASYNC109, RUF100
                                 ) -> AsyncIterator[Any]:
        route = _route.get()
        if route is not None:
            route.used_primary = True
        if route is None or not route.may_write or self.replicas is None:
            async with self.primary.connection(timeout) as conn:
                yield conn
            return
        async with self.primary.connection(timeout) as conn:
            route.held.append(conn)
            try:
                yield conn
            finally:
                route.held.remove(conn)
            await _note_position(conn, route)

    @asynccontextmanager
    async def connection(self, timeout: float | None = None  # noqa: ASYNC109, RUF100
                         ) -> AsyncIterator[Any]:
        route = _route.get()
        if route is None or not route.reads_may_lag or self.replicas is None:
            async with self.primary_connection(timeout) as conn:
                yield conn
            return
        replica = await self._decide(route)
        async with AsyncExitStack() as stack:
            conn = None
            if replica is not None:
                try:
                    conn = await stack.enter_async_context(replica.pool.connection(timeout))
                except psycopg.OperationalError as exc:  # includes DatabaseUnavailable
                    self._lost(replica, route, exc)
            on_replica = conn is not None
            if conn is None:
                conn = await stack.enter_async_context(self.primary.connection(timeout))
            try:
                yield conn
            except Exception as exc:
                if on_replica and route.replica_conflict is None:
                    # mimir.rest.replica_retry runs the request again on the primary
                    route.replica_conflict = replay_cancelled(exc, bool(conn.closed))
                raise

    @asynccontextmanager
    async def spare_connection(self) -> AsyncIterator[Any]:
        """A second connection for work that runs beside the request's own (the two lists
        of a hybrid search), from the server the request reads from, when that server's
        pool has an idle connection now; else None. It never waits for a busy pool."""
        route = _route.get()
        pool = self.primary
        if route is not None and route.reads_may_lag and self.replicas is not None:
            if route.replica is _UNDECIDED:  # the request has taken no connection yet
                yield None
                return
            if route.replica is not None:
                pool = route.replica.pool
        if pool.get_stats().get("pool_available", 0) < 1:
            yield None
            return
        async with self.connection() as conn:
            yield conn

    async def _decide(self, route: Route) -> Replica | None:
        """The replica this request reads from (None: the primary), decided once."""
        if route.replica is not _UNDECIDED:
            return route.replica
        async with route.lock:
            if route.replica is _UNDECIDED:
                route.replica = await self._choose(route.min_lsn)
                if route.replica is not None:
                    route.replica.reads += 1
        return route.replica

    async def _choose(self, min_lsn: int | None) -> Replica | None:
        assert self.replicas is not None
        for replica in self.replicas.usable(min_lsn):
            if min_lsn is None or (replica.replayed is not None and replica.replayed >= min_lsn):
                return replica
            # Not known to have replayed that far as of its last check: ask it now.
            try:
                async with replica.pool.connection() as conn:
                    row = await queries.replicas_replica_position(conn)
            except psycopg.OperationalError as exc:
                log.warning("replica unreachable; reading from the primary",
                            replica=replica.name, error_type=type(exc).__name__)
                replica.mark_unreachable()
                continue
            if row["lsn"] is not None:
                replica.saw_replayed(int(row["lsn"]))
                if replica.replayed >= min_lsn:
                    return replica
        return None

    @staticmethod
    def _lost(replica: Replica, route: Route, exc: BaseException) -> None:
        log.warning("replica unreachable; reading from the primary", replica=replica.name,
                    error_type=type(exc).__name__)
        replica.mark_unreachable()
        if route.replica is replica:
            replica.reads -= 1  # the primary serves it after all
        route.replica = None


async def _note_position(conn: Any, route: Route) -> None:
    """Record the primary's WAL position on the connection that just wrote: its block is
    over, so its transactions have committed (one round trip, no second checkout)."""
    if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
        return
    try:
        lsn = int((await queries.replicas_primary_position(conn))["lsn"])
    except psycopg.Error as exc:  # the write stands; the response just goes without the header
        log.warning("cannot read the WAL position after a write", error_type=type(exc).__name__)
        return
    if route.written_lsn is None or lsn > route.written_lsn:
        route.written_lsn = lsn


async def position_after_writes(route: Route) -> int | None:
    """The position a response to `route`'s request hands out: noted on the write
    connections it still holds (idle, so committed) and on those it gave back."""
    for conn in list(route.held):
        await _note_position(conn, route)
    return route.written_lsn
