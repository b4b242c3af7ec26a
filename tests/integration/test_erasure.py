"""Erasure (issue 16): a marker planted in content, title, metadata, spans, chunks, vectors'
metadata, search postings (including a successor's previous-turn context) and a ChatGPT
`#raw` note is gone from every text, jsonb and bytea column of every table after one
erasure, and from the tables' files on disk after its VACUUM; the checker stays clean,
spans keep their offsets but lose their text, derived intents are reported, and only admin
keys may erase."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from mimir.auth.keys import create_key
from mimir.integrity import check_conninfo
from tests.factories import make_artifact, make_span

MARKER = "zq7xmark3r91k"
TEXT_TYPES = ("text", "character varying", "jsonb", "json", "tsvector", "ARRAY", "bytea")


def _connect(conninfo: str) -> psycopg.Connection:
    return psycopg.connect(conninfo, autocommit=True, row_factory=dict_row)


def marker_hits(conninfo: str) -> list[str]:
    """Every `schema.table.column` (text, jsonb, tsvector, arrays, bytea) holding MARKER."""
    hits = []
    with _connect(conninfo) as conn:
        columns = conn.execute(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type"
            "  FROM information_schema.columns c"
            "  JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE t.table_type = 'BASE TABLE'"
            "   AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
            "   AND c.data_type = ANY(%s)", (list(TEXT_TYPES),)).fetchall()
        assert len(columns) > 20
        for col in columns:
            needle = MARKER.encode().hex() if col["data_type"] == "bytea" else MARKER
            query = sql.SQL("SELECT count(*) AS n FROM {}.{} WHERE {}::text ILIKE %s").format(
                sql.Identifier(col["table_schema"]), sql.Identifier(col["table_name"]),
                sql.Identifier(col["column_name"]))
            if conn.execute(query, (f"%{needle}%",)).fetchone()["n"]:
                hits.append(f"{col['table_schema']}.{col['table_name']}.{col['column_name']}")
    return hits


def files_with_marker(conninfo: str) -> list[str]:
    """Relation files (heap, TOAST, indexes) of the user tables holding MARKER's bytes, after
    a CHECKPOINT has written every dirty page."""
    with _connect(conninfo) as conn:
        conn.execute("CHECKPOINT")
        data_dir = Path(conn.execute("SHOW data_directory").fetchone()["data_directory"])
        paths = [row["path"] for row in conn.execute(
            "SELECT pg_relation_filepath(c.oid) AS path FROM pg_class c"
            "  JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            "   AND c.relkind IN ('r', 't', 'i', 'm') AND pg_relation_filepath(c.oid) IS NOT NULL")]
    found = []
    for path in paths:
        for segment in sorted((data_dir / path).parent.glob(Path(path).name + "*")):
            if segment.name.endswith(("_fsm", "_vm", "_init")):
                continue
            if MARKER.encode() in segment.read_bytes():
                found.append(path)
    return found


def stats_consistent(conninfo: str) -> bool:
    with _connect(conninfo) as conn:
        row = conn.execute(
            "SELECT (SELECT sum(docs) FROM search_stats) AS docs,"
            "       (SELECT sum(total_len) FROM search_stats) AS total,"
            "       (SELECT count(DISTINCT version_id) FROM search_postings) AS real_docs,"
            "       (SELECT coalesce(sum(tf), 0) FROM search_postings) AS real_total").fetchone()
    return row["docs"] == row["real_docs"] and row["total"] == row["real_total"]


async def _keys(conninfo: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        return {scope: (await create_key(conn, name=f"{scope} key", scope=scope))[0]
                for scope in ("write", "admin")}


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _plant(client, conninfo: str) -> dict:
    """The marker everywhere an artifact's text can be copied to."""
    content = f"Please remember that my code word is {MARKER} and nobody else should know it."
    convo = await make_artifact(
        client, kind="conversation", content=content, title=f"chat about {MARKER}",
        source="chatgpt_export", external_id="conv-1",
        metadata={"note": f"contains {MARKER}"}, version_metadata={"copy": MARKER})
    raw = await make_artifact(client, kind="note", content='{"raw": "' + MARKER + '"}' + " x" * 400,
                              source="chatgpt_export", external_id="conv-1#raw")
    # A short message after the erased one in the same source: its postings carry the
    # previous turn's words (migration 0010).
    successor = await make_artifact(client, kind="note", content="yes, confirmed",
                                    source="chatgpt_export", external_id="conv-2")
    unrelated = await make_artifact(client, content="an unrelated note about gardening")
    start = content.index(MARKER)
    span = await make_span(client, artifact_id=convo["id"], version_number=1,
                           start_offset=start, end_offset=start + len(MARKER),
                           label=f"label {MARKER}", metadata={"quote": MARKER})
    intent = (await client.post("/api/v1/intents", json={
        "statement": "keep the code word secret",
        "provenance": {"model_id": "m", "evidence_span_ids": [span["id"]]}})).json()
    with _connect(conninfo) as conn:
        version_id = conn.execute("SELECT id FROM artifact_versions WHERE artifact_id = %s",
                                  (convo["id"],)).fetchone()["id"]
        chunk = conn.execute(
            "INSERT INTO spans (artifact_version_id, start_offset, end_offset, span_type, metadata)"
            " VALUES (%s, 0, 40, 'chunk', %s) RETURNING id",
            (version_id, psycopg.types.json.Jsonb({"chunker": "t"}))).fetchone()["id"]
        space = conn.execute("INSERT INTO embedding_spaces (name, model, dimensions)"
                             " VALUES ('t', 'm', 3) RETURNING id").fetchone()["id"]
        conn.execute("INSERT INTO embeddings (space_id, target_type, target_id, embedding, metadata)"
                     " VALUES (%s, 'span', %s, '[1,2,3]', %s)",
                     (space, chunk, psycopg.types.json.Jsonb({"text": MARKER})))
    return {"convo": convo, "raw": raw, "successor": successor, "unrelated": unrelated,
            "span": span, "intent": intent, "version_id": version_id, "chunk": chunk}


async def test_erasure_leaves_no_trace(client, db_conninfo):
    planted = await _plant(client, db_conninfo)
    keys = await _keys(db_conninfo)
    # Positive controls: the scans do find the marker while it is there.
    before = marker_hits(db_conninfo)
    assert {"public.artifact_versions.content", "public.artifacts.title",
            "public.search_postings.lexeme", "public.embeddings.metadata"} <= set(before)
    assert any(files_with_marker(db_conninfo))
    assert stats_consistent(db_conninfo)

    response = await client.post("/api/v1/admin/erasures", headers=_bearer(keys["admin"]), json={
        "scope": "artifact", "target": planted["convo"]["id"], "reason": "GDPR Art. 17 #1"})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["derived"]["intents"] == [planted["intent"]["id"]]
    assert sorted(result["artifact_ids"]) == sorted([planted["convo"]["id"], planted["raw"]["id"]])
    assert result["counts"]["versions"] == 2
    assert result["counts"]["chunks_deleted"] == 1
    assert result["counts"]["embeddings_deleted"] == 1
    assert result["counts"]["evidence_marked"] == 1
    assert result["counts"]["successors_reindexed"] == 1
    assert result["erased_by"].startswith("key:mimir_")
    assert result["vacuumed"] is True

    assert marker_hits(db_conninfo) == []
    assert files_with_marker(db_conninfo) == []
    assert stats_consistent(db_conninfo)
    report = await check_conninfo(db_conninfo)
    assert report.ok, report.format_text()

    span = (await client.get(f"/api/v1/spans/{planted['span']['id']}",
                             headers=_bearer(keys["admin"]))).json()
    assert (span["start_offset"], span["end_offset"], span["text"]) == (
        planted["span"]["start_offset"], planted["span"]["end_offset"], None)
    with _connect(db_conninfo) as conn:
        version = conn.execute("SELECT content, content_length, erased_content_length,"
                               " erasure_id FROM artifact_versions WHERE id = %s",
                               (planted["version_id"],)).fetchone()
        evidence = conn.execute("SELECT erasure_id FROM provenance_evidence").fetchone()
        untouched = conn.execute("SELECT content FROM artifact_versions v JOIN artifacts a"
                                 " ON a.id = v.artifact_id WHERE a.id = %s",
                                 (planted["unrelated"]["id"],)).fetchone()
    assert version["content"] == "" and version["erased_content_length"] > 0
    assert str(version["erasure_id"]) == result["id"] == str(evidence["erasure_id"])
    assert untouched["content"] == "an unrelated note about gardening"
    # The successor is still found by its own words.
    hits = (await client.post("/api/v1/search/text", headers=_bearer(keys["admin"]),
                              json={"query": "confirmed"})).json()
    assert [h["artifact_id"] for h in hits["hits"]] == [planted["successor"]["id"]], hits

    audit = await client.get("/api/v1/admin/audit", headers=_bearer(keys["admin"]))
    assert audit.status_code == 200
    [entry] = audit.json()["items"]
    assert entry["action"] == "erasure" and entry["details"]["erasure_id"] == result["id"]
    # Erasing again finds nothing left to erase; versions still refuse direct updates.
    again = await client.post("/api/v1/admin/erasures", headers=_bearer(keys["admin"]), json={
        "scope": "artifact", "target": planted["convo"]["id"], "reason": "twice",
        "vacuum": False})
    assert again.status_code == 201 and again.json()["counts"]["versions"] == 0
    with _connect(db_conninfo) as conn, pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("UPDATE artifact_versions SET created_by = 'x'")


async def test_version_and_source_scopes(client, db_conninfo):
    first = await make_artifact(client, content=f"v1 {MARKER}", source="s1")
    await client.post(f"/api/v1/artifacts/{first['id']}/versions", json={"content": "v2 clean"})
    await make_artifact(client, content=f"other {MARKER}", source="s1")
    with _connect(db_conninfo) as conn:
        v1 = conn.execute("SELECT id FROM artifact_versions WHERE artifact_id = %s"
                          " AND version_number = 1", (first["id"],)).fetchone()["id"]
    response = await client.post("/api/v1/admin/erasures", json={
        "scope": "version", "target": str(v1), "reason": "one version", "vacuum": False})
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["versions"] == 1 and response.json()["artifact_ids"] == []
    got = (await client.get(f"/api/v1/artifacts/{first['id']}")).json()
    assert MARKER not in str(got)
    response = await client.post("/api/v1/admin/erasures", json={
        "scope": "source", "target": "s1", "reason": "whole source", "vacuum": False})
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["versions"] == 2  # v2 and the other artifact
    assert marker_hits(db_conninfo) == []
    assert stats_consistent(db_conninfo)
    assert (await check_conninfo(db_conninfo)).ok


async def test_only_admin_keys_erase_and_inputs_are_strict(client, db_conninfo):
    artifact = await make_artifact(client, content="something")
    keys = await _keys(db_conninfo)
    body = {"scope": "artifact", "target": artifact["id"], "reason": "r"}
    for path, method in (("/api/v1/admin/erasures", "post"), ("/api/v1/admin/audit", "get")):
        kwargs = {"json": body} if method == "post" else {}
        response = await getattr(client, method)(path, headers=_bearer(keys["write"]), **kwargs)
        assert response.status_code == 403, response.text
    admin = _bearer(keys["admin"])
    for bad in ({**body, "scope": "namespace"}, {**body, "target": "not-a-uuid"},
                {**body, "reason": "  "}, {**body, "extra": 1}, {"scope": "artifact"}):
        response = await client.post("/api/v1/admin/erasures", headers=admin, json=bad)
        assert response.status_code == 422, (bad, response.text)
    missing = await client.post("/api/v1/admin/erasures", headers=admin,
                                json={**body, "target": str(uuid.uuid4())})
    assert missing.status_code == 404
    with _connect(db_conninfo) as conn:
        assert conn.execute("SELECT count(*) AS n FROM erasures").fetchone()["n"] == 0


async def test_cli_erases_and_refuses_bad_input(client, db_conninfo):
    import json
    import subprocess

    from tests.faults import MIMIR, mimir_env

    artifact = await make_artifact(client, content=f"cli {MARKER}")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([MIMIR, "erase", *args], check=False, capture_output=True,
                              text=True, timeout=120, env=mimir_env(db_conninfo))

    bad = run("artifact", "not-a-uuid", "--reason", "r")
    assert bad.returncode == 2 and "UUID" in bad.stderr
    done = run("artifact", artifact["id"], "--reason", "asked by the user", "--no-vacuum")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["counts"]["versions"] == 1 and record["erased_by"].startswith("cli:")
    assert marker_hits(db_conninfo) == []


async def test_graphql_erase_needs_an_admin_key(client, db_conninfo):
    artifact = await make_artifact(client, content=f"graphql {MARKER}")
    keys = await _keys(db_conninfo)
    mutation = ("mutation($t: String!) { erase(input: {scope: ARTIFACT, target: $t, "
                "reason: \"asked\", vacuum: false}) { id erasedBy counts versionIds "
                "derivedIntentIds } }")
    body = {"query": mutation, "variables": {"t": artifact["id"]}}
    refused = (await client.post("/graphql", json=body, headers=_bearer(keys["write"]))).json()
    assert refused["errors"][0]["extensions"]["code"] == "forbidden", refused
    done = (await client.post("/graphql", json=body, headers=_bearer(keys["admin"]))).json()
    assert "errors" not in done, done
    assert done["data"]["erase"]["counts"]["versions"] == 1
    assert done["data"]["erase"]["erasedBy"].startswith("key:mimir_")
    read = (await client.post("/graphql", headers=_bearer(keys["admin"]), json={
        "query": "query($id: UUID!) { artifact(id: $id) { title latestVersion { content "
                 "erasureId erasedContentLength } } }", "variables": {"id": artifact["id"]}}))
    version = read.json()["data"]["artifact"]["latestVersion"]
    assert version["content"] == "" and version["erasureId"] == done["data"]["erase"]["id"]
    assert version["erasedContentLength"] == len(f"graphql {MARKER}")
    bad = (await client.post("/graphql", headers=_bearer(keys["admin"]), json={
        **body, "variables": {"t": "nope"}})).json()
    assert bad["errors"], bad
    assert marker_hits(db_conninfo) == []


async def test_a_tombstone_exports_and_restores_as_a_tombstone(client, db_conninfo, pg_server):
    import orjson

    from tests.integration.test_portability import _export, _restore

    artifact = await make_artifact(client, content=f"export {MARKER}")
    span = await make_span(client, artifact_id=artifact["id"], version_number=1,
                           start_offset=0, end_offset=6)
    await client.post("/api/v1/intents", json={
        "statement": "s", "provenance": {"model_id": "m", "evidence_span_ids": [span["id"]]}})
    erased = (await client.post("/api/v1/admin/erasures", json={
        "scope": "artifact", "target": artifact["id"], "reason": "r", "vacuum": False})).json()
    data = await _export(db_conninfo)
    assert MARKER.encode() not in data
    records = [orjson.loads(line) for line in data.splitlines()[1:]]
    [version] = [r["data"] for r in records if r["type"] == "artifact_versions"]
    assert (version["content"], version["erasure_id"], version["erased_content_length"]) == (
        "", erased["id"], len(f"export {MARKER}"))
    target = pg_server.conninfo(pg_server.create_database(template=pg_server.template))
    try:
        await _restore(target, data)
        with _connect(target) as conn:
            row = conn.execute("SELECT v.erasure_id, e.reason, pe.erasure_id AS evidence"
                               "  FROM artifact_versions v"
                               "  JOIN erasures e ON e.id = v.erasure_id AND e.namespace = v.namespace"
                               "  JOIN provenance_evidence pe ON pe.namespace = v.namespace"
                               ).fetchone()
        assert str(row["erasure_id"]) == erased["id"] == str(row["evidence"])
        assert (await check_conninfo(target)).ok
    finally:
        pg_server.drop_database(psycopg.conninfo.conninfo_to_dict(target)["dbname"])
