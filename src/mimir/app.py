"""create_app(): the FastAPI application, its lifespan (database, pool) and routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mimir import __version__
from mimir.artifacts.rest import router as artifacts_router
from mimir.auth.middleware import AuthMiddleware
from mimir.config import LogFormat, RateLimitStore, Settings, WorkerMode, get_settings
from mimir.context.rest import router as context_router
from mimir.db.lifecycle import PreparedDatabase, prepare_database
from mimir.db.pool import make_pool
from mimir.db.replicas import make_replica_set
from mimir.db.routing import RoutedPool
from mimir.decisions.rest import router as decisions_router
from mimir.embeddings import runtime as embedding_runtime
from mimir.embeddings import tasks as embedding_tasks
from mimir.embeddings.rest import router as embeddings_router
from mimir.erasure.rest import router as erasure_router
from mimir.graphql.fastpath import CompiledReads
from mimir.graphql.ide import mount_graphiql_assets
from mimir.graphql.schema import graphql_router
from mimir.health.rest import router as health_router
from mimir.health.service import HealthProbe
from mimir.http_errors import UnhandledErrorMiddleware, install_error_handlers
from mimir.intents.rest import router as intents_router
from mimir.jobs.rest import router as jobs_router
from mimir.jobs.worker import JobWorker
from mimir.logging import RequestLogMiddleware, configure_logging, get_logger
from mimir.mcp.http import mount_mcp, running_sessions
from mimir.namespaces.rest import router as namespaces_router
from mimir.provenance.rest import router as provenance_router
from mimir.relations.rest import artifact_relations_router
from mimir.relations.rest import router as relations_router
from mimir.rest.limits import UPLOAD_PATH, BodySizeLimitMiddleware
from mimir.rest.read_routing import ReadRoutingMiddleware
from mimir.rest.slashes import add_trailing_slash_routes
from mimir.rest.strict_json import StrictJsonMiddleware
from mimir.rest.strict_params import known_query_params
from mimir.rest.timeouts import BodyTimeoutMiddleware
from mimir.search.rest import router as search_router
from mimir.spans.rest import router as spans_router
from mimir.transfer.rest import router as imports_router

log = get_logger("mimir.app")

OPENAPI_TAGS = [
    {"name": "artifacts", "description": "Versioned conversations, documents and notes."},
    {"name": "intents", "description": "Intents derived from artifacts, and their groups."},
    {"name": "decisions", "description": "Decisions and their supersession chains."},
    {"name": "spans", "description": "Exact character ranges of artifact versions."},
    {"name": "relations", "description": "Typed edges between any two entities."},
    {"name": "provenance", "description": "How a derived entity was produced."},
    {"name": "search", "description": "Full-text, semantic and hybrid search."},
    {"name": "context", "description": "Cited context for a question, within a token budget."},
    {"name": "jobs", "description": "The background job queue: counts and failures."},
    {"name": "health", "description": "Liveness and database reachability."},
    {"name": "admin", "description": "Admin keys only: namespaces, API keys, erasure and the audit log."},
]


async def _refuse_open_production(settings: Settings, pool) -> None:
    """Production does not serve without authentication unless told to."""
    from mimir.auth.keys import auth_required
    from mimir.config import Environment

    if settings.environment is not Environment.PRODUCTION or settings.allow_no_auth:
        return
    if settings.require_auth:
        return
    async with pool.connection() as conn:
        if await auth_required(conn):
            return
    raise RuntimeError("refusing to serve in production without authentication: create a key "
                       "(`mimir keys create`), set MIMIR_REQUIRE_AUTH=true, or set "
                       "MIMIR_ALLOW_NO_AUTH=true to serve openly on purpose")


def _with_session_limits(conninfo: str, settings: Settings) -> str:
    """The pool's conninfo with a statement timeout and work_mem on every connection (REST,
    GraphQL, key checks); GraphQL reads set a shorter timeout per transaction."""
    options = [conninfo_to_dict(conninfo).get("options") or "",
               f"-c work_mem={settings.db_work_mem}"]
    if settings.db_statement_timeout_s:
        options.append(f"-c statement_timeout={round(settings.db_statement_timeout_s * 1000)}")
    return make_conninfo(conninfo, options=" ".join(o for o in options if o))


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("background start-up task failed", error_type=type(task.exception()).__name__)


def create_app(
    settings: Settings | None = None,
    database: PreparedDatabase | None = None,
    *,
    close_database: bool | None = None,
) -> FastAPI:
    """Build the app. Without `database` the lifespan prepares one from `settings`. The
    lifespan releases the database on shutdown when `close_database` (default: when it
    prepared it) -- the last moment that surely runs, as uvicorn re-raises SIGTERM/SIGINT
    once it has shut down.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None if close_database is None else close_database
        prepared = database or await asyncio.to_thread(prepare_database, settings)
        pool = RoutedPool(make_pool(_with_session_limits(prepared.conninfo, settings), settings),
                          make_replica_set(prepared.conninfo, settings, _with_session_limits))
        await pool.open(wait=False)
        app.state.pool = pool
        app.state.database = prepared
        app.state.health_probe = HealthProbe(prepared.conninfo)
        try:
            await _refuse_open_production(settings, pool)
        except BaseException:
            await app.state.health_probe.close()
            await pool.close()
            raise
        # The indexing runtime first: the worker's jobs need it.
        indexing = await embedding_runtime.configure(settings, prepared.conninfo)
        app.state.embedding_provider = indexing.provider
        app.state.embedding_space = indexing.space["name"] if indexing.space else None
        worker = None
        if settings.worker is WorkerMode.INPROCESS:
            worker = JobWorker(prepared.conninfo, concurrency=settings.worker_concurrency)
            worker.start()  # returns at once; the worker connects in the background
        app.state.job_worker = worker
        if worker is not None and indexing.provider is not None:
            # Versions written while no worker ran get queued now (a separate
            # `mimir worker` does the same when it starts).
            backfill = asyncio.create_task(embedding_tasks.backfill(
                prepared.conninfo, space_id=indexing.space["id"] if indexing.space else None))
            backfill.add_done_callback(_log_failure)
        log.info("mimir ready", version=__version__, embedded=prepared.is_embedded)
        try:
            async with running_sessions(mcp_server):
                yield
        finally:
            if worker is not None:
                await worker.stop()  # running jobs get a few seconds to finish
            await embedding_runtime.reset()
            await app.state.health_probe.close()
            await pool.close()
            if owned:
                await asyncio.to_thread(prepared.close)
            log.info("mimir stopped")

    app = FastAPI(
        title="Mímir",
        version=__version__,
        description="Durable memory for people and LLM agents: versioned artifacts, exact "
        "spans, intents, decisions, relations and the provenance of everything derived.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in (artifacts_router, intents_router, decisions_router, spans_router,
                   relations_router, artifact_relations_router, provenance_router,
                   search_router, context_router, embeddings_router, jobs_router,
                   imports_router, health_router, erasure_router, namespaces_router):
        app.include_router(add_trailing_slash_routes(router),
                           dependencies=[Depends(known_query_params)])
    graphql = graphql_router(settings)
    app.include_router(graphql, prefix="/graphql", include_in_schema=False)
    if settings.graphiql:
        mount_graphiql_assets(app)
    mcp_server = mount_mcp(app)
    # Last added runs first: the request log wraps the body timeout, the body limit and the
    # last-resort error handler, so every response carries the request id.
    if settings.graphql_compiled_reads:
        app.add_middleware(CompiledReads, schema=graphql.schema._schema, settings=settings)
    app.add_middleware(StrictJsonMiddleware)
    app.add_middleware(UnhandledErrorMiddleware)
    if settings.database_replica_urls is not None:  # right inside the auth middleware
        app.add_middleware(ReadRoutingMiddleware, window_s=settings.replica_max_lag_s,
                           max_body_bytes=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, rate_per_minute=settings.rate_limit_per_minute,
                       shared=settings.rate_limit_store is RateLimitStore.POSTGRES)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       upload_limits={UPLOAD_PATH: settings.max_upload_bytes})
    app.add_middleware(BodyTimeoutMiddleware, idle_s=settings.http_body_timeout_s,
                       deadline_s=settings.http_body_deadline_s,
                       upload_deadline_s=settings.http_upload_deadline_s)
    app.add_middleware(RequestLogMiddleware)
    return app


def app_factory() -> FastAPI:
    """For `uvicorn --factory mimir.app:app_factory` and `uvicorn mimir.main:app`."""
    settings = get_settings()
    configure_logging(settings.log_level.value, pretty=settings.log_format is LogFormat.PRETTY)
    return create_app(settings)
