"""Key changes with their audit entries, in one transaction: shared by the admin REST API
and the `mimir keys` commands (namespaces: `service.create` audits itself)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from mimir.auth import keys
from mimir.namespaces.service import audit


async def create_key(conn: AsyncConnection, *, name: str, scope: str,
                     namespaces: list[str] | None, actor: str) -> tuple[str, dict[str, Any]]:
    """A new key (returned once) and its record; audited as `key.create`."""
    async with conn.transaction():
        key, record = await keys.create_key(conn, name=name, scope=scope, namespaces=namespaces)
        await audit(conn, action="key.create", actor=actor, namespace=None,
                    subject=f"key:{record['id']}",
                    details={"name": record["name"], "scope": record["scope"],
                             "namespaces": record["namespaces"],
                             "key_prefix": record["key_prefix"]})
    return key, record


async def revoke_key(conn: AsyncConnection, key_id: uuid.UUID, *, actor: str) -> dict[str, Any]:
    """Revoke a key now; audited as `key.revoke`."""
    async with conn.transaction():
        record = await keys.revoke_key(conn, key_id)
        await audit(conn, action="key.revoke", actor=actor, namespace=None,
                    subject=f"key:{key_id}",
                    details={"name": record["name"], "key_prefix": record["key_prefix"]})
    return record
