"""What /health reports: is the database alive, is the pool saturated, and (for admin
keys, or on a server without authentication) which versions, migration and job counts.

Liveness is probed on a connection of its own, outside the request pool: when every
pooled connection is busy with long requests, the probe still answers at once and
reports the database live and the pool saturated (`busy`, still 200), instead of taking
a full pool for a dead database. Only a probe that fails or times out means `degraded`
(503). Probes take turns on that one connection, so /health never adds more than one
connection to the server's load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from mimir import __version__
from mimir.auth.keys import auth_required, scope_of
from mimir.db.queries import queries
from mimir.health.replicas import replicas_report
from mimir.jobs.service import health_counts as job_health_counts
from mimir.logging import get_logger

log = get_logger("mimir.health")

# A health probe must answer quickly even when the database hangs.
PROBE_TIMEOUT_S = 3.0
# libpq's connect_timeout takes whole seconds (at least 2).
PROBE_CONNECT_TIMEOUT_S = 2

T = TypeVar("T")


class HealthProbe:
    """One lazily opened connection, reopened after any failure, used one probe at a
    time."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]],
                  timeout: float = PROBE_TIMEOUT_S) -> T:  # noqa: ASYNC109 - a deadline
        """`work(conn)` within `timeout` seconds (waiting for the probe included); any
        failure discards the connection so the next probe starts afresh."""
        async with asyncio.timeout(timeout), self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, row_factory=dict_row,
                        connect_timeout=PROBE_CONNECT_TIMEOUT_S,
                        application_name="mimir-health")
                return await work(self._conn)
            except BaseException:
                await self._discard()
                raise

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                await conn.close()

    async def close(self) -> None:
        async with self._lock:
            await self._discard()


def pool_report(pool: AsyncConnectionPool) -> dict[str, Any]:
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    available = stats.get("pool_available", 0)
    waiting = stats.get("requests_waiting", 0)
    return {
        "saturated": available == 0 and size >= pool.max_size,
        "size": size,
        "max_size": pool.max_size,
        "available": available,
        "waiting": waiting,
    }


async def check_health(probe: HealthProbe, pool: AsyncConnectionPool, *, is_embedded: bool,
                       key: str | None, require_auth: bool) -> tuple[dict[str, Any], bool]:
    """The report and whether the database is alive. Details (versions, migration, job
    counts, pool figures) only when `key` is an active admin key, or when the server
    needs no key at all."""

    async def probe_work(conn: psycopg.AsyncConnection) -> dict[str, Any] | None:
        await queries.health_ping(conn)
        if not await _shows_details(conn, key, require_auth):
            return None
        return await _server_facts(conn)

    alive = False
    facts = None
    try:
        facts = await probe.run(probe_work)
        alive = True
    except (psycopg.Error, TimeoutError, OSError) as exc:
        log.warning("health: database unreachable", error_type=type(exc).__name__)
    pool_facts = pool_report(pool)
    if not alive:
        status = "degraded"
    elif pool_facts["saturated"]:
        status = "busy"
    else:
        status = "ok"
    report: dict[str, Any] = {
        "status": status,
        "database": {"reachable": alive},
        "pool": {"saturated": pool_facts["saturated"]},
    }
    if facts is not None:
        jobs = facts.pop("jobs")
        report.update(version=__version__, jobs=jobs, pool=pool_facts)
        report["database"].update(embedded=is_embedded, **facts)
    replicas = replicas_report(getattr(pool, "replicas", None), details=facts is not None)
    if replicas is not None:
        report["replicas"] = replicas  # never part of `status`: reads fall back to the primary
    return report, alive


async def _shows_details(conn: psycopg.AsyncConnection, key: str | None,
                         require_auth: bool) -> bool:
    try:
        if key is not None:
            return await scope_of(conn, key) == "admin"
        return not (require_auth or await auth_required(conn))
    except psycopg.errors.UndefinedTable:  # not migrated yet: no keys exist
        return key is None and not require_auth


async def _server_facts(conn: psycopg.AsyncConnection) -> dict[str, Any]:
    facts = await queries.health_get_server_facts(conn)
    revision_row = await queries.database_get_revision(conn) if facts["is_migrated"] else None
    jobs = await job_health_counts(conn)
    return {
        "server_version": facts["server_version"],
        "pgvector_version": facts["pgvector_version"],
        "migration_revision": revision_row["version_num"] if revision_row else None,
        "jobs": jobs,
    }
