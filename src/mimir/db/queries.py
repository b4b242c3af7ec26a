"""Named SQL queries from `sql/*.sql`, parsed once at import (aiosql, async psycopg), and
the same queries for synchronous connections (`sync_queries()`, parsed on first use: the
command line and the database lifecycle, which run before any event loop).

Both are wrapped by `mimir.db.namespaced.NamespacedQueries`: a statement that declares
`:namespace` gets the connection's namespace bound when the caller passes none."""

from __future__ import annotations

from functools import cache

import aiosql

from mimir.db.namespaced import NamespacedQueries
from mimir.paths import SQL_DIR

queries = NamespacedQueries(aiosql.from_path(SQL_DIR, "apsycopg"))


@cache
def sync_queries():
    """The named queries for `psycopg.Connection` (rows as that connection makes them)."""
    return NamespacedQueries(aiosql.from_path(SQL_DIR, "psycopg"))
