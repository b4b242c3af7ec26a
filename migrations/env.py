"""Alembic environment: one connection, one advisory lock so that two processes starting
at once do not migrate the same database twice."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from mimir.db.connection import sqlalchemy_creator
from mimir.db.tables import metadata

MIGRATION_LOCK_KEY = 7_431_926_001  # arbitrary, fixed: pg_advisory_xact_lock key
# procrastinate's tables (migration 0002 applies its own schema SQL) are not described in
# mimir.db.tables; autogenerate must neither drop nor compare them.
JOB_QUEUE_PREFIX = "procrastinate_"


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate filter: skip the job queue's tables (their indexes go with them)."""
    return not (type_ == "table" and name is not None and name.startswith(JOB_QUEUE_PREFIX))


def _conninfo() -> str:
    conninfo = context.config.attributes.get("conninfo")
    if conninfo is None:  # plain `alembic upgrade head` from a shell
        from mimir.config import load_settings
        from mimir.db.connection import resolve_external_conninfo

        conninfo = resolve_external_conninfo(load_settings())
    return conninfo


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(
        "postgresql+psycopg://", creator=sqlalchemy_creator(_conninfo()), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=False,
                      include_name=include_name)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `mimir migrate`")
run_migrations_online()
