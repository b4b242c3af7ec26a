"""Keyword-only async factories that create records through the real HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx


async def make_artifact(client: httpx.AsyncClient, *, content: str = "hello world",
                        kind: str = "note", **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/artifacts", json={"kind": kind, "content": content, **fields})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def append_version(client: httpx.AsyncClient, *, artifact_id: str, content: str,
                         **fields: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/artifacts/{artifact_id}/versions",
                                 json={"content": content, **fields})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def make_span(client: httpx.AsyncClient, *, start_offset: int = 0, end_offset: int = 5,
                    **fields: Any) -> dict[str, Any]:
    """A span; name its version with version_id=..., or artifact_id=... + version_number=..."""
    response = await client.post("/api/v1/spans", json={
        "start_offset": start_offset, "end_offset": end_offset, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def insert_version(conn: Any, *, namespace: str, content: str, source: str = "api") -> Any:
    """An artifact with one version written straight into `namespace` on an owner's
    (superuser) psycopg connection, bypassing the API; returns the artifact id."""
    conn.execute("SELECT set_config('mimir.namespace', %s, false)", (namespace,))
    artifact = conn.execute("INSERT INTO artifacts (artifact_type, source) VALUES ('note', %s)"
                            " RETURNING id", (source,)).fetchone()[0]
    conn.execute("INSERT INTO artifact_versions (artifact_id, version_number, content,"
                 " content_hash) VALUES (%s, 1, %s, encode(sha256(convert_to(%s, 'UTF8')),"
                 " 'hex'))", (artifact, content, content))
    return artifact


@asynccontextmanager
async def app_connection(conninfo: str, namespace: str) -> AsyncIterator[Any]:
    """A connection as the app role in `namespace`, with the namespace in force (so jobs
    deferred on it carry it), as the CLI and jobs work outside a request."""
    from mimir.db.session import connect_app
    from mimir.namespaces import context as namespace_context

    with namespace_context.use(namespace):
        async with await connect_app(conninfo, namespace) as conn:
            yield conn
