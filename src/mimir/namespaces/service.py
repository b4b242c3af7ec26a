"""Creating and listing namespaces; the audit entries of key and namespace changes."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import AsyncConnection

from mimir.db.queries import queries
from mimir.errors import Conflict, Invalid, NotFound
from mimir.namespaces.context import validate

MAX_DESCRIPTION = 2000

# Namespaces are never deleted (erasure empties one), so a name once seen stays valid.
_known: set[str] = set()


async def exists(conn: AsyncConnection, name: str) -> bool:
    if name in _known:
        return True
    found = (await queries.namespaces_exists(conn, name=name))["found"]
    if found:
        _known.add(name)
    return found


async def require_existing(conn: AsyncConnection, names: list[str]) -> None:
    for name in names:
        validate(name, "namespaces")
    row = await queries.namespaces_count_missing(conn, names=names)
    if row["missing"]:
        raise NotFound(f"no namespace {', '.join(row['names'])}",
                       details={"namespaces": row["names"]})


async def create(conn: AsyncConnection, *, name: str, description: str | None,
                 actor: str) -> dict[str, Any]:
    validate(name, "name")
    if description is not None and (len(description) > MAX_DESCRIPTION or "\x00" in description):
        raise Invalid(f"description must be at most {MAX_DESCRIPTION} characters, without NUL",
                      details={"field": "description"})
    async with conn.transaction():
        row = await queries.namespaces_insert(conn, name=name, description=description,
                                              created_by=actor)
        if row is None:
            raise Conflict(f"namespace {name} exists already", details={"name": name})
        await audit(conn, action="namespace.create", actor=actor, namespace=name,
                    subject=f"namespace:{name}", details={"description": description})
    _known.add(name)
    return row


async def list_all(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [row async for row in queries.namespaces_list(conn)]


async def audit(conn: AsyncConnection, *, action: str, actor: str, namespace: str | None,
                subject: str, details: dict[str, Any]) -> None:
    await queries.auth_insert_audit(conn, action=action, actor=actor, namespace=namespace,
                                    subject=subject, details=orjson.dumps(details).decode())
