"""At DEBUG, every SQL statement the pool's connections run is logged (logger `mimir.sql`).

A line has the statement's text and how many parameters were bound to it, never their
values: a bound value may be a user's content, a token hash or any other secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from mimir.logging import get_logger

_STDLIB_LOGGER = logging.getLogger("mimir.sql")
MAX_STATEMENT_CHARS = 4000


def _text(query: Any, conn: psycopg.AsyncConnection) -> str:
    if isinstance(query, sql.Composable):
        text = query.as_string(conn)
    elif isinstance(query, bytes):
        text = query.decode("utf-8", "replace")
    else:
        text = str(query)
    text = " ".join(text.split())  # one line, whatever the SQL file's layout
    return text if len(text) <= MAX_STATEMENT_CHARS else text[:MAX_STATEMENT_CHARS] + "…"


def _count(params: Any) -> int:
    if params is None:
        return 0
    if isinstance(params, Mapping | Sequence) and not isinstance(params, str | bytes):
        return len(params)
    return 1


class StatementLoggingCursor(psycopg.AsyncCursor):
    """An `AsyncCursor` that logs each statement at DEBUG before running it."""

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if _STDLIB_LOGGER.isEnabledFor(logging.DEBUG):
            get_logger("mimir.sql").debug("sql", statement=_text(query, self.connection),
                                          parameter_count=_count(params))
        return await super().execute(query, params, **kwargs)

    async def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> None:
        if _STDLIB_LOGGER.isEnabledFor(logging.DEBUG):
            params_seq = list(params_seq)
            get_logger("mimir.sql").debug("sql", statement=_text(query, self.connection),
                                          executions=len(params_seq))
        await super().executemany(query, params_seq, **kwargs)
