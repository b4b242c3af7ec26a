"""Export and restore of one namespace (issue 16): export as the app role in a namespace
writes that namespace's rows only; restore into a namespace puts every row there; the same
export restored into a second namespace of the same database makes a copy with the same ids
(keys are (id, namespace) since migration 0014), and `mimir check` holds each copy to its
own namespace."""

from __future__ import annotations

import io

import orjson
import psycopg
import pytest

from mimir.db.session import connect_app
from mimir.integrity import check_conninfo
from mimir.transfer.export import export_database
from mimir.transfer.restore import RestoreError, restore_namespace

A, B = {"X-Mimir-Namespace": "team-a"}, {"X-Mimir-Namespace": "team-b"}


async def _export(conninfo: str, namespace: str) -> bytes:
    out = io.BytesIO()
    async with await connect_app(conninfo, namespace) as conn:
        await export_database(conn, out)
    return out.getvalue()


async def test_export_and_restore_one_namespace(client, db_conninfo, target_conninfo):
    for name in ("team-a", "team-b"):
        assert (await client.post("/api/v1/admin/namespaces", json={"name": name})).status_code == 201
    for headers, text in ((A, "alpha text"), (B, "beta text")):
        response = await client.post("/api/v1/artifacts", headers=headers,
                                     json={"kind": "note", "content": text, "source": "s",
                                           "external_id": "same"})
        assert response.status_code == 201, response.text
    await client.post("/api/v1/intents", headers=B, json={"statement": "only in b"})
    data = await _export(db_conninfo, "team-a")
    records = [orjson.loads(line) for line in data.splitlines()[1:]]
    contents = [r["data"]["content"] for r in records if r["type"] == "artifact_versions"]
    assert contents == ["alpha text"]
    assert not [r for r in records if r["type"] == "intents"]

    with psycopg.connect(target_conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO namespaces (name) VALUES ('team-c'), ('team-d')")
    counts = await restore_namespace(target_conninfo, "team-c", io.BytesIO(data))
    assert counts["artifacts"] == 1 and counts["artifact_versions"] == 1
    with psycopg.connect(target_conninfo) as conn:
        placed = conn.execute("SELECT namespace, content FROM artifact_versions").fetchall()
        spaces = conn.execute("SELECT DISTINCT namespace FROM search_postings").fetchall()
    assert placed == [("team-c", "alpha text")] and spaces == [("team-c",)]

    with pytest.raises(RestoreError, match="not empty"):
        await restore_namespace(target_conninfo, "team-c", io.BytesIO(data))
    # Keys are (id, namespace) since migration 0014 (Citus distributes by namespace): the same
    # export restores into a second namespace as a copy with the same ids, each copy seen
    # only from its own namespace.
    counts = await restore_namespace(target_conninfo, "team-d", io.BytesIO(data))
    assert counts["artifacts"] == 1 and counts["artifact_versions"] == 1
    with psycopg.connect(target_conninfo) as conn:
        ids = conn.execute("SELECT namespace, id FROM artifacts ORDER BY namespace").fetchall()
    assert [ns for ns, _ in ids] == ["team-c", "team-d"] and ids[0][1] == ids[1][1]
    # The invariant checker matches every reference within its own namespace: two copies
    # with the same ids are neither gaps in version numbers, stale postings nor orphans.
    report = await check_conninfo(target_conninfo)
    assert report.ok, [(f.check, f.rows) for f in report.findings]


async def test_namespaced_round_trip_reproduces_every_row(client, db_conninfo, target_conninfo):
    """Every kind of row (merged groups, superseded decisions, relations between relations,
    evidence, a space of its own with vectors) exported from `default` and restored into
    `default` of another database as the app role comes back identical, HNSW index
    included."""
    from tests.integration.test_portability import _dump, _rich_dataset

    await _rich_dataset(client)
    data = await _export(db_conninfo, "default")
    counts = await restore_namespace(target_conninfo, "default", io.BytesIO(data))
    assert counts["embeddings"] == 2 and counts["relations"] == 2
    source, target = _dump(db_conninfo), _dump(target_conninfo)
    for table in source:
        assert source[table] == target[table], table
