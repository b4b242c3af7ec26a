"""Named SQL queries from `sql/*.sql`, parsed once at import (aiosql, async psycopg)."""

from __future__ import annotations

import aiosql

from mimir.paths import SQL_DIR

queries = aiosql.from_path(SQL_DIR, "apsycopg")
