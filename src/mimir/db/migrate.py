"""Alembic, driven from code: upgrade, downgrade, and the current revision."""

from __future__ import annotations

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg.rows import dict_row

from mimir.db.queries import sync_queries
from mimir.paths import ALEMBIC_INI, MIGRATIONS_DIR


def alembic_config(conninfo: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["conninfo"] = conninfo
    return config


def upgrade(conninfo: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(conninfo), revision)


def downgrade(conninfo: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(conninfo), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(conninfo: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    queries = sync_queries()
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        if not queries.database_has_revision_table(conn)["exists"]:
            return None
        row = queries.database_get_revision(conn)
        return row["version_num"] if row else None
