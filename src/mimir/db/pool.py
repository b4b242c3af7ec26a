"""The one async connection pool of a process."""

from __future__ import annotations

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from mimir.config import Settings

# orjson decodes json/jsonb columns several times faster than the standard library.
set_json_loads(orjson.loads)
set_json_dumps(orjson.dumps)


def make_pool(conninfo: str, settings: Settings) -> AsyncConnectionPool:
    """A closed pool; the FastAPI lifespan opens and closes it.

    Connections are autocommit: a service that needs a transaction opens one explicitly
    with `conn.transaction()`, so no request leaves a transaction idle.
    """
    return AsyncConnectionPool(
        conninfo,
        min_size=settings.db_pool_min_size,
        max_size=max(settings.db_pool_max_size, settings.db_pool_min_size),
        timeout=settings.db_acquire_timeout_s,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True, "row_factory": dict_row},
        name="mimir",
        # Reconnect attempts keep going while the server is down; health reports 503 meanwhile.
        reconnect_timeout=24 * 3600,
    )
