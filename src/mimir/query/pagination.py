"""Keyset pagination on (created_at, id) with opaque cursors.

A cursor is base64url(JSON [created_at, id]) plus a short checksum. The checksum makes an
edited cursor fail with a clear 422 instead of silently jumping; it is not a secret (a
forged cursor could only move a page to another position the client may read anyway).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from mimir.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_PERSON = b"mimir-cursor-v1"
# The order of every page, and what a cursor holds (Keyset); the GraphQL compiler reads it
# too (graphql/model.py CURSOR_COLUMNS).
KEYSET = ("created_at", "id")


@dataclass(frozen=True)
class Keyset:
    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: Keyset | None = None
    offset: int = 0


def _checksum(payload: bytes) -> str:
    # SHA-256 so that PostgreSQL can compute the same (src/mimir/graphql/compiler.py).
    return hashlib.sha256(_PERSON + payload).hexdigest()[:12]


def encode_cursor(row: dict[str, Any]) -> str:
    payload = orjson.dumps([row["created_at"].isoformat(), str(row["id"])])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _checksum(payload)


def decode_cursor(cursor: str) -> Keyset:
    invalid = Invalid("cursor is not valid; use the next_cursor of a previous page",
                      details={"parameter": "cursor"})
    if len(cursor) > 200 or "." not in cursor:
        raise invalid
    body, checksum = cursor.rsplit(".", 1)
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    if _checksum(payload) != checksum:
        raise invalid
    try:
        created_at, ident = orjson.loads(payload)
        return Keyset(created_at=datetime.fromisoformat(created_at), id=uuid.UUID(ident))
    except (orjson.JSONDecodeError, ValueError, TypeError):
        raise invalid from None


def page_request(limit: int | None, cursor: str | None, offset: int | None,
                 max_limit: int = MAX_LIMIT) -> PageRequest:
    """Validate paging parameters: limit in [1, max_limit], a cursor or an offset, not both."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= max_limit:
        raise Invalid(f"limit must be between 1 and {max_limit}", details={"parameter": "limit"})
    if offset is not None and offset < 0:
        raise Invalid("offset must be 0 or more", details={"parameter": "offset"})
    if cursor and offset:
        raise Invalid("use either cursor or offset, not both", details={"parameter": "cursor"})
    return PageRequest(limit=min(limit, max_limit),
                       after=decode_cursor(cursor) if cursor else None,
                       offset=offset or 0)
