"""The `mimir` command: serve, migrate, check, db-url."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mimir.config import ConfigError, LogFormat, Settings, load_settings
from mimir.db.connection import DatabaseUnreachable
from mimir.logging import configure_logging

app = typer.Typer(help="Mímir: durable memory for people and LLM agents.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def _prepare(settings: Settings, **options: object):
    """The database (embedded started if needed), or exit 1 with one line naming it."""
    from mimir.db.lifecycle import prepare_database

    try:
        return prepare_database(settings, **options)
    except DatabaseUnreachable as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1) -> None:
    print(f"mimir: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc), 2)
    configure_logging(settings.log_level.value, stream=sys.stderr,
                      pretty=settings.log_format is LogFormat.PRETTY)
    return settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default MIMIR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MIMIR_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=64, help="API processes on the port (default MIMIR_WORKERS, 1).")] = None,
) -> None:
    """Start the database if embedded, migrate it, and serve HTTP until Ctrl-C / SIGTERM.
    With several workers the database is prepared once here and each API process connects
    to it; the job worker (MIMIR_WORKER=inprocess) runs once, in this parent process."""
    import uvicorn

    from mimir.app import create_app
    from mimir.rest.timeouts import header_timeout_protocol

    settings = _settings()
    database = _prepare(settings)
    refusal = _open_production_refusal(settings, database.conninfo)
    if refusal:
        database.close()
        _fail(refusal)
    processes = workers or settings.workers
    try:
        if processes > 1:
            from mimir.serving import serve_processes

            serve_processes(settings, database, host=host or settings.host,
                            port=port or settings.port, workers=processes)
            return
        uvicorn.run(
            create_app(settings, database, close_database=True),
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            http=header_timeout_protocol(settings.http_header_timeout_s),
        )
    finally:
        database.close()


@app.command()
def mcp(
    namespace: Annotated[str, typer.Option(
        help="The namespace every tool reads and writes in.")] = "default",
) -> None:
    """Serve the MCP tools and resources over stdio (for desktop MCP clients) on the
    configured database, or the embedded one like `serve`. Logs go to stderr."""
    import asyncio
    import signal

    from mimir.mcp.stdio import run_stdio

    settings = _settings()
    database = _prepare(settings)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # clients stop their server with SIGTERM: stop PostgreSQL too

    signal.signal(signal.SIGTERM, interrupt)
    try:
        asyncio.run(run_stdio(settings, database, namespace))
    except KeyboardInterrupt:
        pass
    finally:
        database.close()


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(
        min=1, max=64, help="Jobs run at once (default MIMIR_WORKER_CONCURRENCY).")] = None,
    queue: Annotated[list[str] | None, typer.Option(
        "--queue", help="Only this queue (repeatable; default: all queues).")] = None,
) -> None:
    """Run the background job worker until Ctrl-C / SIGTERM (set MIMIR_WORKER=off on the
    servers then). Running jobs get a few seconds to finish on shutdown."""
    import asyncio

    from mimir.jobs.worker import JobWorker, run_until_signalled
    from mimir.serving import worker_session

    settings = _settings()
    database = _prepare(settings)
    try:
        job_worker = JobWorker(database.conninfo,
                               concurrency=concurrency or settings.worker_concurrency,
                               queues=queue or None)
        asyncio.run(worker_session(settings, database.conninfo, job_worker,
                                   run_until_signalled))
    finally:
        database.close()


def _open_production_refusal(settings: Settings, conninfo: str) -> str | None:
    """Why production must not start (no authentication), or None."""
    import psycopg
    from psycopg.rows import dict_row

    from mimir.config import Environment
    from mimir.db.queries import sync_queries

    if (settings.environment is not Environment.PRODUCTION or settings.allow_no_auth
            or settings.require_auth):
        return None
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        has_key = sync_queries().auth_exists_active_key(conn)["required"]
    if has_key:
        return None
    return ("refusing to serve in production without authentication: create a key (`mimir "
            "keys create`), set MIMIR_REQUIRE_AUTH=true, or MIMIR_ALLOW_NO_AUTH=true on purpose")


def _with_connection(work, namespace: str | None = None):
    """Run `work(conn)` on one autocommit connection: the owner's (global tables, every
    namespace), or with `namespace` the app role's in that namespace (row-level security
    applies, and the namespace is in force for anything the work defers)."""
    import asyncio

    import psycopg
    from psycopg.rows import dict_row

    from mimir.db.session import connect_app
    from mimir.namespaces import context as namespace_context

    settings = _settings()
    database = _prepare(settings)

    async def run():
        if namespace is None:
            async with await psycopg.AsyncConnection.connect(
                    database.conninfo, autocommit=True, row_factory=dict_row) as conn:
                return await work(conn)
        with namespace_context.use(namespace):
            async with await connect_app(database.conninfo, namespace,
                                         app_role=settings.db_app_role) as conn:
                return await work(conn)

    try:
        return asyncio.run(run())
    finally:
        database.close()


@app.command()
def erase(
    scope: Annotated[str, typer.Argument(help="artifact, version, source or namespace.")],
    target: Annotated[str, typer.Argument(
        help="The artifact or version id, the source, or the namespace.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the erasure record and audit log).")],
    vacuum: Annotated[bool, typer.Option(help="VACUUM (FULL) the touched tables after.")] = True,
    namespace: Annotated[str, typer.Option(
        help="The namespace to erase in (scope namespace: the target itself).")] = "default",
) -> None:
    """Erase an artifact, one version, a whole source or everything in a namespace, inside
    one namespace: content becomes a tombstone, its chunks, vectors, postings and metadata
    copies go. Prints the erasure record as JSON."""
    from mimir.erasure.cli import run_erase

    run_erase(_with_connection, _fail, scope=scope, target=target, reason=reason,
              vacuum=vacuum, namespace=namespace)


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION instead.")] = False,
) -> None:
    """Upgrade (or downgrade) the database schema."""
    from mimir.db import migrate as migrations

    settings = _settings()
    database = _prepare(settings, run_migrations=False)
    try:
        if down:
            migrations.downgrade(database.conninfo, revision)
        else:
            migrations.upgrade(database.conninfo, revision)
        print(f"database at revision {migrations.current_revision(database.conninfo)}")
    finally:
        database.close()


@app.command()
def check(
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the report as JSON on stdout.")] = False,
    limit: Annotated[int, typer.Option(
        min=1, max=10_000, help="Rows listed per broken rule (all are counted).")] = 20,
) -> None:
    """Check the database's invariants (version numbers 1..n, no orphan spans, provenance,
    relations or embeddings, content hashes, stalled imports). Exit 0 when no rule is
    broken (warnings allowed), 1 listing each violation. Reads only; never migrates."""
    import asyncio
    import json

    import psycopg

    from mimir.integrity import check_conninfo

    settings = _settings()
    database = _prepare(settings, run_migrations=False)
    try:
        report = asyncio.run(check_conninfo(database.conninfo, limit=limit))
    except psycopg.errors.UndefinedTable as exc:
        _fail(f"the database is not migrated (`mimir migrate`): {str(exc).splitlines()[0]}")
    finally:
        database.close()
    if json_output:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.format_text())
    if not report.ok:
        raise typer.Exit(1)


@app.command("export-schema")
def export_schema(
    path: Annotated[str, typer.Argument(help="File to write; `-` for stdout.")] = "schema.graphql",
) -> None:
    """Write the GraphQL schema (SDL) as the running server serves it."""
    from mimir.config import Settings as SchemaSettings
    from mimir.graphql.schema import build_schema

    sdl = build_schema(SchemaSettings(_env_file=None)).as_str() + "\n"
    if path == "-":
        sys.stdout.write(sdl)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(sdl)
        print(f"wrote {path}")


@app.command("db-url")
def db_url(
    show_password: Annotated[bool, typer.Option(help="Include the password.")] = False,
) -> None:
    """Print where the database is (starting the embedded one if needed), e.g. for psql."""
    from psycopg.conninfo import conninfo_to_dict


    settings = _settings()
    database = _prepare(settings, run_migrations=False, keep_running=True)
    if show_password:
        print(database.conninfo)
    else:
        params = {k: v for k, v in conninfo_to_dict(database.conninfo).items() if k != "password"}
        print(" ".join(f"{k}={v}" for k, v in params.items()))


def _register_subcommands() -> None:
    from mimir.namespaces.cli import keys_app, namespaces_app
    from mimir.transfer.cli import export_command, import_app, import_mimir_command

    app.command("restore")(import_mimir_command)
    app.add_typer(keys_app, name="keys")
    app.add_typer(namespaces_app, name="namespaces")

    app.command("export")(export_command)
    app.add_typer(import_app, name="import")


_register_subcommands()

if __name__ == "__main__":
    app()
