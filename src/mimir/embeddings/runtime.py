"""The process-wide indexing runtime: the embedding provider, its default space, and a
small connection pool for background jobs. Built once per process (server or worker);
the provider's model is loaded on first use, not at start-up.

The job pool is a `mimir.db.pool.MimirPool` like the API's: its connections run as the app
role (row-level security applies) and each checkout is put in the namespace in force, which
a job sets from its `namespace` argument (`mimir.jobs.app.namespaced_task`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from mimir.config import Settings
from mimir.db.pool import MimirPool
from mimir.db.session import use_app_role
from mimir.embeddings.provider import EmbeddingProvider
from mimir.embeddings.service import default_space_definition, register_space
from mimir.logging import get_logger

log = get_logger("mimir.embeddings")


@dataclass
class IndexingRuntime:
    settings: Settings
    conninfo: str
    provider: EmbeddingProvider | None
    space: dict[str, Any] | None
    pool: AsyncConnectionPool | None = None

    async def job_pool(self) -> AsyncConnectionPool:
        """A small pool for indexing jobs, opened on first use in the running loop."""
        if self.pool is None:
            self.pool = MimirPool(
                self.conninfo, unavailable_timeout=self.settings.db_unavailable_timeout_s,
                citus=self.settings.db_citus,
                min_size=1, max_size=4, open=False, name="mimir-indexing",
                kwargs={"autocommit": True, "row_factory": dict_row},
                check=AsyncConnectionPool.check_connection,
                configure=use_app_role if self.settings.db_app_role else None)
            await self.pool.open()
        return self.pool

    async def ensure_space(self) -> dict[str, Any]:
        """Register the provider's space now (it failed at start-up, e.g. provider down)."""
        if self.space is None:
            self.space = await _register(self.provider, self.conninfo)
        return self.space

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None


_runtime: IndexingRuntime | None = None
_lock = asyncio.Lock()


async def configure(settings: Settings, conninfo: str) -> IndexingRuntime:
    """Build the runtime for this process: provider from settings, its space registered
    (with its HNSW index) so vectors have somewhere to go."""
    global _runtime
    from mimir.embeddings.providers import provider_from_settings

    async with _lock:
        if _runtime is not None:
            if _runtime.conninfo == conninfo:
                return _runtime
            await _runtime.close()
        provider = provider_from_settings(settings)
        space = None
        if provider is not None:
            try:
                space = await _register(provider, conninfo)
            except Exception as exc:  # the API must start even when the provider is down
                log.warning("embedding space not ready; semantic search unavailable",
                            error_type=type(exc).__name__, error_message=str(exc)[:300])
        _runtime = IndexingRuntime(settings=settings, conninfo=conninfo, provider=provider,
                                   space=space)
        log.info("indexing configured", provider=getattr(provider, "name", "none"),
                 space=space["name"] if space else None)
        return _runtime


async def _register(provider: EmbeddingProvider, conninfo: str) -> dict[str, Any]:
    probe = getattr(provider, "probe_dimensions", None)
    if probe is not None:  # a remote model whose dimension is not configured
        await probe()
    async with await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, row_factory=dict_row) as conn:
        space, _ = await register_space(conn, default_space_definition(provider))
    return space


def current() -> IndexingRuntime | None:
    return _runtime


async def reset() -> None:
    """Forget the runtime (tests; shutdown)."""
    global _runtime
    if _runtime is not None:
        await _runtime.close()
    _runtime = None
