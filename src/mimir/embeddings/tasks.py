"""Background indexing jobs: chunk and embed new versions, embed intents and decisions,
and a periodic backfill for anything a crash or an outage left unindexed."""

from __future__ import annotations

import uuid

from procrastinate import RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from psycopg import AsyncConnection

from mimir.db.queries import queries
from mimir.embeddings import runtime
from mimir.embeddings.service import index_statement, index_version
from mimir.entities import EntityType
from mimir.jobs.app import defer_in_transaction, namespaced_task
from mimir.logging import get_logger

log = get_logger("mimir.embeddings")

QUEUE = "embeddings"
INDEX_VERSION = "embeddings.index_version"
INDEX_STATEMENT = "embeddings.index_statement"
# Provider outages are retried with growing waits: 2, 4, 8 ... seconds, 10 attempts.
RETRY = RetryStrategy(max_attempts=10, exponential_wait=2)


async def _runtime() -> runtime.IndexingRuntime | None:
    """The runtime, or None when no provider is configured (the job has nothing to do).
    A provider whose space could not be set up yet raises, so the job is retried later."""
    rt = runtime.current()
    if rt is None:
        raise RuntimeError("the indexing runtime is not configured in this process")
    if rt.provider is None:
        return None
    if rt.space is None:
        await rt.ensure_space()
    return rt


@namespaced_task(name=INDEX_VERSION, queue=QUEUE, retry=RETRY)
async def index_version_job(version_id: str) -> int:
    """Chunk one version into spans and embed the chunks (idempotent)."""
    rt = await _runtime()
    if rt is None:
        return 0
    settings = rt.settings
    return await index_version(await rt.job_pool(), rt.provider, rt.space, uuid.UUID(version_id),
                               min_chars=settings.chunk_min_chars, max_chars=settings.chunk_max_chars)


@namespaced_task(name=INDEX_STATEMENT, queue=QUEUE, retry=RETRY)
async def index_statement_job(entity_type: str, entity_id: str) -> bool:
    """Embed an intent's or a decision's text (idempotent)."""
    rt = await _runtime()
    if rt is None:
        return False
    return await index_statement(await rt.job_pool(), rt.provider, rt.space,
                                 EntityType(entity_type), uuid.UUID(entity_id))


async def backfill(conninfo: str, *, limit: int = 10_000,
                   space_id: uuid.UUID | None = None) -> int:
    """Queue every version that has no chunks yet (written while no worker ran, or whose
    job failed for good) or, given the current space, a chunk without a vector in it (the
    default model changed). Run at start-up by the server and by `mimir worker`; a version
    already waiting in the queue is not queued twice. Scans every namespace (as the
    database's owner, whom the `maintenance` policy lets see them all) and queues each
    version in its own namespace."""
    import psycopg
    from psycopg.rows import dict_row

    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        ids = [(row["id"], row["namespace"]) async for row in
               queries.embeddings_list_versions_without_chunks(conn, limit=limit,
                                                               space_id=space_id)]
        for version_id, namespace in ids:
            async with conn.transaction():
                await enqueue_version(conn, version_id, namespace=namespace)
    if ids:
        log.info("queued unindexed versions", count=len(ids))
    return len(ids)


async def enqueue_version(conn: AsyncConnection, version_id: uuid.UUID, *,
                          namespace: str | None = None) -> None:
    """Queue the indexing of a version, inside the caller's transaction (once: a version
    already waiting in the queue is not queued twice), in `namespace` (default: the one in
    force)."""
    try:
        await defer_in_transaction(conn, INDEX_VERSION, version_id=str(version_id),
                                   namespace=namespace,
                                   job_options={"queueing_lock": f"version:{version_id}"})
    except AlreadyEnqueued:
        pass


async def enqueue_statement(conn: AsyncConnection, entity_type: EntityType,
                            entity_id: uuid.UUID) -> None:
    """Queue the embedding of an intent or decision, inside the caller's transaction."""
    await defer_in_transaction(conn, INDEX_STATEMENT, entity_type=entity_type.value,
                               entity_id=str(entity_id))
