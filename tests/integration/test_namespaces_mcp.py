"""MCP under namespaces (issue 16): each /mcp request works in its key's namespace, so what
one namespace's agent remembers another's cannot recall, read or list."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from mimir.auth.keys import create_key
from tests.mcp_clients import (
    error_text,
    http_session,
    live_server,
    result,
    server_env,
    stdio_session,
)

SAID = "The staging database moves to the Frankfurt region next sprint."


async def _key(conninfo: str, namespace: str) -> str:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        await conn.execute("INSERT INTO namespaces (name) VALUES (%s) ON CONFLICT DO NOTHING",
                           (namespace,))
        return (await create_key(conn, name=f"mcp {namespace}", scope="write",
                                 namespaces=[namespace]))[0]


async def test_tools_and_resources_stay_in_the_keys_namespace(db_conninfo, tmp_path):
    key_a, key_b = await _key(db_conninfo, "team-a"), await _key(db_conninfo, "team-b")
    with live_server(db_conninfo, tmp_path, MIMIR_EMBEDDING_PROVIDER="none") as base:
        async with http_session(base, key_a) as session:
            stored = result(await session.call_tool("remember", {"content": SAID}))
            hits = result(await session.call_tool("recall", {"query": "Frankfurt"}))["hits"]
            assert [h["quote"] for h in hits] == [SAID]
            listed = (await session.list_resources()).resources
            assert any(stored["artifact_id"] in str(r.uri) for r in listed)
        async with http_session(base, key_b) as session:
            hits = result(await session.call_tool("recall", {"query": "Frankfurt"}))["hits"]
            assert hits == []
            missing = error_text(await session.call_tool(
                "get_artifact", {"artifact_id": stored["artifact_id"]}))
            assert "not" in missing.lower()
            assert (await session.list_resources()).resources == []
            result(await session.call_tool("remember", {"content": "team b's own note"}))
    with psycopg.connect(db_conninfo) as conn:
        rows = conn.execute("SELECT namespace, content FROM artifact_versions ORDER BY 1"
                            ).fetchall()
    assert rows == [("team-a", SAID), ("team-b", "team b's own note")]


async def test_stdio_works_in_the_namespace_it_was_given(db_conninfo, tmp_path):
    """`mimir mcp --namespace team-a` writes and reads in team-a only."""
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO namespaces (name) VALUES ('team-a')")
        conn.execute("SELECT set_config('mimir.namespace', 'default', false)")
        conn.execute("INSERT INTO artifacts (artifact_type, title) VALUES ('note', 'Frankfurt')")
    env = server_env(db_conninfo, tmp_path, MIMIR_EMBEDDING_PROVIDER="none")
    async with stdio_session(env, "--namespace", "team-a") as session:
        result(await session.call_tool("remember", {"content": SAID}))
        assert (await session.list_resources()).resources[0].name != "Frankfurt"
        assert len((await session.list_resources()).resources) == 1
    with psycopg.connect(db_conninfo) as conn:
        rows = conn.execute("SELECT namespace FROM artifact_versions").fetchall()
    assert rows == [("team-a",)]
