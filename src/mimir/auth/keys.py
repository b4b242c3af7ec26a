"""API keys: created once and shown once; only a SHA-256 of each key is stored.

A key is 32 random bytes (256 bits), so a fast hash is as safe as a slow one here (no
guessing is feasible) and keeps the per-request check to one indexed lookup. Scopes are
ordered: read < write < admin. A read or write key is bound to the namespaces it may use;
an admin key uses every namespace and manages namespaces and keys.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from psycopg import AsyncConnection

from mimir.db.queries import queries
from mimir.errors import Invalid, NotFound
from mimir.namespaces.context import DEFAULT as DEFAULT_NAMESPACE

SCOPES = ("read", "write", "admin")
KEY_PREFIX = "mimir_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def allows(scope: str, needed: str) -> bool:
    return SCOPES.index(scope) >= SCOPES.index(needed)


async def create_key(conn: AsyncConnection, *, name: str, scope: str,
                     namespaces: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """A new key: returns (the key itself, shown once, and its stored record).

    A read or write key is bound to `namespaces` (default: `default`); an admin key may use
    every namespace and takes none."""
    from mimir.namespaces.service import require_existing

    if scope not in SCOPES:
        raise Invalid(f"scope must be one of {', '.join(SCOPES)}")
    if not name.strip() or len(name) > 200 or "\x00" in name:
        raise Invalid("name must be 1-200 visible characters")
    if scope == "admin":
        if namespaces:
            raise Invalid("an admin key may use every namespace; do not give namespaces",
                          details={"field": "namespaces"})
        bound = None
    else:
        # In the order given, once each: the first is where its requests go by default.
        bound = list(dict.fromkeys(namespaces or [DEFAULT_NAMESPACE]))
        await require_existing(conn, bound)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = await queries.auth_insert_key(conn, name=name, scope=scope, key_hash=hash_key(key),
                                           key_prefix=key[:12], namespaces=bound)
    return key, record


async def list_keys(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [row async for row in queries.auth_list_keys(conn)]


async def revoke_key(conn: AsyncConnection, key_id: uuid.UUID) -> dict[str, Any]:
    row = await queries.auth_revoke_key(conn, id=key_id)
    if row is None:
        raise NotFound(f"no active key {key_id}")
    return row


async def key_of(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    """The scope and namespaces (None: all) of an active key, or None (unknown or
    revoked): checked on every request, so a revocation takes effect at once."""
    return await queries.auth_get_key_scope(conn, key_hash=hash_key(key))


async def scope_of(conn: AsyncConnection, key: str) -> str | None:
    row = await key_of(conn, key)
    return row["scope"] if row else None


async def auth_required(conn: AsyncConnection) -> bool:
    return (await queries.auth_exists_active_key(conn))["required"]
