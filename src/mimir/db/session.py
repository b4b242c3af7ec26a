"""How a connection is put under row-level security: the app role, then a namespace.

Every connection the service reads or writes memory through runs as `mimir_app` (not a
superuser, no BYPASSRLS; migration 0012), so the policies apply even when DATABASE_URL's
user could bypass them, and carries `mimir.namespace`, the only namespace whose rows it
sees or may write. `MIMIR_DB_APP_ROLE=off` turns the role switch off, for measuring the
cost of RLS side by side only: every namespace is then visible to every key.

Pooled connections: the pool sets the namespace of the request at every checkout, before
the request's first statement, unless the connection is known to carry exactly that value
already (it remembers what it last set; nothing else in Mímir sets `mimir.namespace`). A
connection handed out with no namespace in force gets '' and sees nothing; so a connection
never carries one request's namespace into another's.

On Citus (`MIMIR_DB_CITUS`, docs/scaling.md) a session setting never reaches the workers,
where the shards' row-level security is enforced: the pool runs each checkout in one
transaction that starts with `SET LOCAL mimir.namespace` (`mimir.db.citus`), which
Citus passes on to every worker the transaction uses
(`citus.propagate_set_commands = 'local'` on the database, set by the distribution script).
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from mimir.db import citus
from mimir.db.namespaced import CONNECTION_MARK
from mimir.db.queries import queries

APP_ROLE = "mimir_app"
_MARK = CONNECTION_MARK


async def use_app_role(conn: psycopg.AsyncConnection) -> None:
    await queries.database_set_app_role(conn)


async def set_namespace(conn: psycopg.AsyncConnection, namespace: str | None) -> None:
    """Put the connection into `namespace` (None: into none)."""
    value = namespace or ""
    if getattr(conn, _MARK, None) == value:
        return
    await queries.database_set_namespace(conn, namespace=value)
    setattr(conn, _MARK, value)


async def has_citus(conn: psycopg.AsyncConnection) -> bool:
    """Whether the connection's database has the citus extension."""
    return bool((await queries.database_has_citus(conn))["citus"])


def namespace_of(conn: psycopg.AsyncConnection) -> str | None:
    """The namespace `set_namespace` last put the connection into ('' for none), or None
    when it never did. Per-process caches of namespace data key their entries by it."""
    return getattr(conn, _MARK, None)


async def connect_app(conninfo: str, namespace: str | None, *, app_role: bool = True,
                      **kwargs) -> psycopg.AsyncConnection:
    """A new autocommit connection as the app role in `namespace` (jobs, imports, CLI); on
    Citus a `mimir.db.citus.CitusConnection`, whose every transaction begins in it."""
    kwargs.setdefault("autocommit", True)
    kwargs.setdefault("row_factory", dict_row)
    on_citus = citus.known(conninfo)
    if on_citus:
        kwargs.setdefault("cursor_factory", citus.CitusCursor)
    connection_class = citus.CitusConnection if on_citus else psycopg.AsyncConnection
    conn = await connection_class.connect(conninfo, **kwargs)
    try:
        if on_citus is None:
            citus.remember(conninfo, await has_citus(conn))
            if citus.known(conninfo):
                await conn.close()
                return await connect_app(conninfo, namespace, app_role=app_role, **kwargs)
        if app_role:
            await use_app_role(conn)
        await set_namespace(conn, namespace)
    except BaseException:
        await conn.close()
        raise
    return conn
