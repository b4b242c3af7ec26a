"""The MCP server through the SDK's own client: over streamable HTTP at /mcp of a live
`mimir serve` (keys and scopes as REST) and over stdio (`mimir mcp`). Every citation
recall returns is checked against the stored version."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
from psycopg.rows import dict_row

from mimir.auth.keys import create_key
from tests.mcp_clients import (
    check_citation,
    error_text,
    http_session,
    live_server,
    result,
    server_env,
    stdio_session,
)

READ_TOOLS = {"recall", "quote", "provenance_chain", "get_artifact"}
WRITE_TOOLS = {"remember", "record_intent", "record_decision", "supersede_decision", "relate"}
SAID = "Let's move the weekly sync to Thursday mornings, Tuesday clashes with the release."


async def _key(conninfo: str, scope: str) -> str:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        return (await create_key(conn, name=f"mcp {scope}", scope=scope))[0]


async def _store_and_decide(session, conninfo: str) -> dict:
    """The worked example: store a conversation turn, decide with it as evidence, recall
    the decision with its quote."""
    first = result(await session.call_tool("remember", {
        "content": SAID, "kind": "message", "conversation": "planning-42", "speaker": "maya",
        "time": "2026-11-02T09:30:00Z", "source": "slack", "external_id": "msg-1"}))
    assert first["created"] is True and first["kind"] == "conversation"
    assert first["metadata"] == {"conversation": "planning-42", "speaker": "maya",
                                 "time": "2026-11-02T09:30:00+00:00"}
    cited = first["citation"]
    assert cited["quote"] == SAID and cited["span_id"] and cited["span_type"] == "message"
    check_citation(conninfo, cited)
    again = result(await session.call_tool("remember", {
        "content": SAID, "kind": "message", "source": "slack", "external_id": "msg-1"}))
    assert again["created"] is False
    assert (again["artifact_id"], again["citation"]["span_id"]) == (first["artifact_id"],
                                                                    cited["span_id"])
    decision = result(await session.call_tool("record_decision", {
        "statement": "The weekly sync moves to Thursday mornings",
        "rationale": "Tuesday clashes with the release", "evidence_span_ids": [cited["span_id"]]}))
    recalled = result(await session.call_tool("recall", {"query": "weekly sync Thursday"}))
    assert recalled["hits"]
    for hit in recalled["hits"]:
        if hit["entity_type"] == "artifact_version":
            check_citation(conninfo, hit)
    [found] = [h for h in recalled["hits"] if h["entity_id"] == decision["id"]]
    assert found["quote"] == decision["statement"]
    [record] = found["provenance"]
    assert (record["model_id"], record["pipeline_version"]) == ("mimir-test-agent", "1.2.3")
    [evidence] = record["evidence"]
    assert evidence["quote"] == SAID and evidence["span_id"] == cited["span_id"]
    check_citation(conninfo, evidence)
    [message] = [h for h in recalled["hits"] if h["entity_type"] == "artifact_version"]
    assert message["span_id"] == cited["span_id"] and message["quote"] == SAID
    return {"message": first, "decision": decision}


async def _bad_inputs(session) -> None:
    assert "limit" in error_text(await session.call_tool("recall", {"query": "x", "limit": 0}))
    assert "query" in error_text(await session.call_tool("recall", {"query": ""}))
    assert "kind" in error_text(await session.call_tool("remember", {"content": "x",
                                                                     "kind": "song"}))
    assert "not both" in error_text(await session.call_tool("quote", {}))
    text = error_text(await session.call_tool("record_decision", {
        "statement": "x", "evidence_span_ids": ["00000000-0000-0000-0000-000000000001"]}))
    assert "evidence span(s) do not exist" in text
    text = error_text(await session.call_tool("get_artifact", {
        "artifact_id": "00000000-0000-0000-0000-000000000002"}))
    assert "not_found" in text and "does not exist" in text


class TestHttp:
    async def test_every_tool_with_a_write_key(self, db_conninfo, tmp_path):
        write_key = await _key(db_conninfo, "write")
        with live_server(db_conninfo, tmp_path, MIMIR_EMBEDDING_PROVIDER="none") as base:
            async with http_session(base, write_key) as session:
                assert {t.name for t in (await session.list_tools()).tools} == READ_TOOLS | WRITE_TOOLS
                stored = await _store_and_decide(session, db_conninfo)
                await _bad_inputs(session)
                span_id = stored["message"]["citation"]["span_id"]
                artifact_id = stored["message"]["artifact_id"]
                quoted = result(await session.call_tool("quote", {"span_id": span_id}))
                assert quoted["quote"] == SAID
                version_id = quoted["version_id"]
                ranged = result(await session.call_tool("quote", {
                    "version_id": version_id, "start_offset": 4, "end_offset": 8}))
                assert ranged["quote"] == SAID[4:8] and ranged["span_id"] is None
                check_citation(db_conninfo, ranged)
                assert "offsets must satisfy" in error_text(await session.call_tool("quote", {
                    "version_id": version_id, "start_offset": 5, "end_offset": 5000}))

                intent = result(await session.call_tool("record_intent", {
                    "statement": "Keep Thursday mornings free", "evidence_span_ids": [span_id],
                    "confidence": 0.8}))
                assert intent["proposed_by"] == "mimir-test-agent"
                old = stored["decision"]["id"]
                both = result(await session.call_tool("supersede_decision", {
                    "decision_id": old, "statement": "The weekly sync moves to Thursday 14:00",
                    "evidence_span_ids": [span_id]}))
                assert both["superseded"]["superseded_by_id"] == both["current"]["id"]
                assert "superseded" in error_text(await session.call_tool("supersede_decision", {
                    "decision_id": old, "statement": "again"}))
                relation = result(await session.call_tool("relate", {
                    "source_type": "decision", "source_id": both["current"]["id"],
                    "relation_type": "implements", "target_type": "intent",
                    "target_id": intent["id"]}))
                assert relation["relation_type"] == "implements"
                assert "relation_type" in error_text(await session.call_tool("relate", {
                    "source_type": "decision", "source_id": old, "relation_type": "Bad Type",
                    "target_type": "intent", "target_id": intent["id"]}))

                chain = result(await session.call_tool("provenance_chain", {
                    "entity_type": "decision", "entity_id": both["current"]["id"]}))
                assert [i["id"] for i in chain["supersession"]["items"]] == [
                    old, both["current"]["id"]]
                assert chain["provenance"][0]["evidence"][0]["quote"] == SAID

                artifact = result(await session.call_tool("get_artifact",
                                                          {"artifact_id": artifact_id}))
                assert artifact["version"]["content"] == SAID
                assert artifact["version"]["version_number"] == 1
                resource = await session.read_resource(f"mimir://artifacts/{artifact_id}/versions/1")
                assert SAID in resource.contents[0].text
                listed = (await session.list_resources()).resources
                assert [r.uri for r in listed] == [f"mimir://artifacts/{artifact_id}"]
                opened = await session.read_resource(listed[0].uri)
                assert '"version_number":1' in opened.contents[0].text
                templates = (await session.list_resource_templates()).resource_templates
                assert {t.uri_template for t in templates} == {
                    "mimir://artifacts/{artifact_id}",
                    "mimir://artifacts/{artifact_id}/versions/{version_number}"}
            # The REST view of the same decision carries the client's provenance.
            async with httpx.AsyncClient(base_url=base) as http:
                rest = (await http.get(f"/api/v1/provenance/decision/{stored['decision']['id']}",
                                       headers={"Authorization": f"Bearer {write_key}"})).json()
            assert rest[0]["model"] == "mimir-test-agent"

    async def test_read_key_sees_and_calls_only_read_tools(self, db_conninfo, tmp_path):
        write_key = await _key(db_conninfo, "write")
        read_key = await _key(db_conninfo, "read")
        with live_server(db_conninfo, tmp_path, MIMIR_EMBEDDING_PROVIDER="none") as base:
            async with http_session(base, write_key) as session:
                result(await session.call_tool("remember", {"content": SAID}))
            async with http_session(base, read_key) as session:
                assert {t.name for t in (await session.list_tools()).tools} == READ_TOOLS
                text = error_text(await session.call_tool("remember", {"content": "nope"}))
                assert "write key" in text and "'read'" in text
                assert "write key" in error_text(await session.call_tool(
                    "record_decision", {"statement": "nope"}))
                hits = result(await session.call_tool("recall", {"query": "Thursday"}))["hits"]
                assert [h["quote"] for h in hits] == [SAID]
                check_citation(db_conninfo, hits[0])
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.post("/mcp", json={})).status_code == 401
                assert (await http.post("/mcp", json={}, headers={
                    "Authorization": "Bearer nope"})).status_code == 401


class TestStdio:
    async def test_stdio_tools_on_the_configured_database(self, db_conninfo, tmp_path):
        env = server_env(db_conninfo, tmp_path, MIMIR_EMBEDDING_PROVIDER="none")
        async with stdio_session(env) as session:
            assert {t.name for t in (await session.list_tools()).tools} == READ_TOOLS | WRITE_TOOLS
            await _store_and_decide(session, db_conninfo)
            await _bad_inputs(session)
            recalled = result(await session.call_tool("recall", {"query": "release"}))
            assert recalled["mode"] == "text" and "full-text" in recalled["notice"]


class TestHybrid:
    async def test_recall_ranks_as_rest_hybrid_and_cites_each_hit(self, db_conninfo, tmp_path):
        """With the default local embedding provider, recall is REST's hybrid search (same
        hits, same order) with every version hit quoted exactly."""
        notes = [SAID, "The release train leaves every second Tuesday at noon.",
                 "Sourdough needs its starter fed the night before baking.",
                 "We keep a standby database ready so the sync survives a failover."]
        with live_server(db_conninfo, tmp_path) as base:
            async with http_session(base, None) as session:
                for i, note in enumerate(notes):
                    result(await session.call_tool("remember", {
                        "content": note, "kind": "message" if i % 2 else "note"}))
                result(await session.call_tool("record_decision", {
                    "statement": "The weekly sync stays on Thursday"}))
                recalled = result(await session.call_tool("recall", {
                    "query": "when is the weekly sync", "limit": 10}))
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                rest = (await http.post("/api/v1/search/hybrid", json={
                    "query": "when is the weekly sync", "limit": 10})).json()
        assert recalled["mode"] == "hybrid" and recalled["notice"] is None
        assert [(h["entity_type"], h["entity_id"]) for h in recalled["hits"]] == [
            (h["entity_type"], h["entity_id"]) for h in rest["hits"]]
        assert len(recalled["hits"]) >= 3
        for hit in recalled["hits"]:
            if hit["entity_type"] == "artifact_version":
                check_citation(db_conninfo, hit)


class TestStdioEmbedded:
    async def test_stdio_starts_the_embedded_database(self, pg_data_dir, tmp_path):
        """Without DATABASE_URL, `mimir mcp` starts the embedded PostgreSQL in
        MIMIR_DATA_DIR (like `mimir serve`), keeps stdout for the protocol, and stops it
        when the client goes away."""
        env = server_env("", tmp_path, MIMIR_EMBEDDING_PROVIDER="none",
                         MIMIR_DATA_DIR=str(pg_data_dir / "data"))
        del env["DATABASE_URL"]
        async with stdio_session(env) as session:
            stored = result(await session.call_tool("remember", {"content": SAID}))
            assert stored["citation"]["quote"] == SAID
            [hit] = result(await session.call_tool("recall", {"query": "weekly sync"}))["hits"]
            assert hit["quote"] == SAID and hit["artifact_id"] == stored["artifact_id"]
        pid_file = pg_data_dir / "data" / "pgdata" / "postmaster.pid"
        for _ in range(100):
            if not pid_file.exists():
                break
            await asyncio.sleep(0.1)
        assert not pid_file.exists(), "PostgreSQL outlived `mimir mcp`"
