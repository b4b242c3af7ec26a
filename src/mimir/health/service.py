"""What /health reports: is the database there, which versions, which migration."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mimir import __version__
from mimir.db.queries import queries
from mimir.jobs.service import health_counts as job_health_counts
from mimir.logging import get_logger

log = get_logger("mimir.health")

# A health probe must answer quickly even when the database hangs.
PROBE_TIMEOUT_S = 3.0


async def check_health(pool: AsyncConnectionPool, *, is_embedded: bool) -> dict[str, Any]:
    """Report status `ok` when the database answers, `degraded` when it does not."""
    database: dict[str, Any] = {"reachable": False, "embedded": is_embedded}
    jobs = None
    try:
        facts = await asyncio.wait_for(_server_facts(pool), PROBE_TIMEOUT_S)
        jobs = facts.pop("jobs")
        database.update(reachable=True, **facts)
    except (psycopg.Error, PoolTimeout, TimeoutError, OSError) as exc:
        log.warning("health: database unreachable", error_type=type(exc).__name__)
    return {
        "status": "ok" if database["reachable"] else "degraded",
        "version": __version__,
        "database": database,
        "jobs": jobs,
    }


async def _server_facts(pool: AsyncConnectionPool) -> dict[str, Any]:
    async with pool.connection(timeout=PROBE_TIMEOUT_S) as conn:
        facts = await queries.server_facts(conn)
        revision_row = await queries.migration_revision(conn) if facts["is_migrated"] else None
        jobs = await job_health_counts(conn)
    revision = revision_row["version_num"] if revision_row else None
    return {
        "server_version": facts["server_version"],
        "pgvector_version": facts["pgvector_version"],
        "migration_revision": revision,
        "jobs": jobs,
    }
