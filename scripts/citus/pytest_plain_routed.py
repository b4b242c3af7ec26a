"""The suite on plain PostgreSQL with scripts/citus/route_triggers.sql applied after the
migrations: checks that the Citus-ready trigger functions behave as 0012's on one server.
With MIMIR_PLAIN_SCHEMA=on, also the schema changes of distribute.sql (its first
transaction: policies, keys with namespace, foreign keys), to see what they break there.

    PYTHONPATH=src:scripts/citus pytest -p pytest_plain_routed tests/integration/test_relations_api.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent


def _sql(name: str) -> str:
    """A file of this folder without its psql meta-commands."""
    lines = (HERE / name).read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("\\"))


def _schema_changes() -> str:
    """distribute.sql up to the end of its first transaction (no Citus calls)."""
    found = re.match(r"(.*?\nCOMMIT;\n)", _sql("distribute.sql"), re.S)
    if found is None:
        raise RuntimeError("distribute.sql: no first transaction")
    return found.group(1)


def pytest_configure(config) -> None:
    from mimir.db import migrate

    original = migrate.upgrade

    def upgrade(conninfo: str, revision: str = "head") -> None:
        original(conninfo, revision)
        if revision == "head":
            with psycopg.connect(conninfo, autocommit=True) as conn:
                if os.environ.get("MIMIR_PLAIN_SCHEMA") == "on":
                    conn.execute(_schema_changes())
                conn.execute(_sql("route_triggers.sql"))

    migrate.upgrade = upgrade
