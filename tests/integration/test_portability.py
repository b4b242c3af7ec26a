"""Export, restore into an empty database (round trip), and the import of a folder of files."""

from __future__ import annotations

import gzip
import io
import time
from urllib.parse import urlencode

import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from mimir.transfer.export import export_database
from mimir.transfer.files import import_files
from mimir.transfer.mimir_format import ADDED_IN_3, TABLES
from mimir.transfer.restore import RestoreError, chain_levels, restore_database
from tests.factories import app_connection, append_version, make_artifact, make_span

# Every column (SELECT *), generated ones included, in a stable order.
COMPARED = {**{t: "id" for t in TABLES}, "provenance_evidence": "provenance_id, span_id"}


async def _post(client, path, body, status=201):
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def _rich_dataset(client) -> None:
    art = await make_artifact(client, content="one two three four five", kind="document",
                              title="Doc", source="test", external_id="d1",
                              metadata={"n": 1.5, "nested": {"a": [1, 2]}})
    await append_version(client, artifact_id=art["id"], content="one two three four five six")
    v3 = await append_version(client, artifact_id=art["id"],
                              content="one two three four five six seven", metadata={"v": 3})
    other = await make_artifact(client, content="another artifact text")
    s1 = await make_span(client, version_id=v3["id"], start_offset=0, end_offset=3,
                         span_type="word", label="one")
    s2 = await make_span(client, artifact_id=other["id"], version_number=1, start_offset=0,
                         end_offset=7)
    g_a = await _post(client, "/api/v1/intents/groups", {"name": "A"})
    g_b = await _post(client, "/api/v1/intents/groups", {"name": "B"})
    g_c = await _post(client, "/api/v1/intents/groups", {"name": "C", "description": "d"})
    for group in (g_a, g_b, g_c):
        await _post(client, "/api/v1/intents", {"statement": f"intent in {group['name']}",
                                                "group_id": group["id"], "confidence": 0.3})
    # A merged into B, then B merged into C: a chain restore must apply deepest first.
    await _post(client, f"/api/v1/intents/groups/{g_a['id']}/merge", {"into": g_b["id"]}, 200)
    await _post(client, f"/api/v1/intents/groups/{g_b['id']}/merge", {"into": g_c["id"]}, 200)
    dec_a = await _post(client, "/api/v1/decisions", {"statement": "A", "rationale": "r"})
    response = await client.patch(f"/api/v1/decisions/{dec_a['id']}",
                                  json={"supersede_with": {"statement": "B"}})
    assert response.status_code == 200, response.text
    dec_b = (await client.get("/api/v1/decisions", params={"statement": "B"})).json()["items"][0]
    response = await client.patch(f"/api/v1/decisions/{dec_b['id']}",
                                  json={"supersede_with": {"statement": "C"}})
    assert response.status_code == 200, response.text
    await _post(client, "/api/v1/decisions", {"statement": "tentative", "status": "tentative"})
    rel = await _post(client, "/api/v1/relations", {
        "source_type": "decision", "source_id": dec_a["id"], "relation_type": "derived_from",
        "target_type": "span", "target_id": s1["id"]})
    await _post(client, "/api/v1/relations", {
        "source_type": "artifact", "source_id": art["id"], "relation_type": "about",
        "target_type": "relation", "target_id": rel["id"]})
    await _post(client, "/api/v1/provenance", {
        "target_type": "decision", "target_id": dec_a["id"], "model": "m",
        "parameters": {"t": 0.2}, "evidence_span_ids": [s2["id"], s1["id"]]})
    await _post(client, "/api/v1/embeddings/spaces",
                {"name": "tiny", "model": "hand", "dimensions": 3})
    response = await client.post("/api/v1/embeddings", json={"space": "tiny", "vectors": [
        {"target_type": "span", "target_id": s1["id"], "vector": [0.1, 0.2, 0.30000001]},
        {"target_type": "span", "target_id": s2["id"], "vector": [1e-7, -2.5, 3]}]})
    assert response.status_code == 200, response.text


async def _export(conninfo: str) -> bytes:
    out = io.BytesIO()
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        await export_database(conn, out)
    return out.getvalue()


async def _restore(conninfo: str, data: bytes) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        return await restore_database(conn, io.BytesIO(data))


def _dump(conninfo: str) -> dict[str, list[tuple]]:
    with psycopg.connect(conninfo) as conn:
        tables = {t: conn.execute(sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier(t), sql.SQL(key))).fetchall() for t, key in COMPARED.items()}
        tables["hnsw_indexes"] = conn.execute(
            "SELECT indexname, replace(indexdef, current_database(), '') FROM pg_indexes"
            " WHERE indexname LIKE 'ix_embeddings_hnsw_%' ORDER BY 1").fetchall()
    return tables


class TestRoundTrip:
    async def test_restore_reproduces_every_row(self, client, db_conninfo, target_conninfo):
        """Export then restore into an empty database gives identical rows in every table."""
        await _rich_dataset(client)
        started = time.monotonic()
        data = await _export(db_conninfo)
        counts = await _restore(target_conninfo, data)
        elapsed = time.monotonic() - started
        print(f"round trip of {sum(counts.values())} rows: {elapsed:.3f} s")
        source, target = _dump(db_conninfo), _dump(target_conninfo)
        assert counts["artifact_versions"] == 4 and counts["embeddings"] == 2
        assert len(source["hnsw_indexes"]) == counts["embedding_spaces"] >= 1
        for table in source:
            assert source[table] == target[table], table
        with psycopg.connect(target_conninfo) as conn:
            statuses = conn.execute("SELECT status::text, count(*) FROM decisions GROUP BY 1"
                                    " ORDER BY 1").fetchall()
        assert statuses == [("active", 1), ("superseded", 2), ("tentative", 1)]

    async def test_restored_data_exports_identically(self, client, db_conninfo,
                                                      target_conninfo):
        """Exporting the restored database gives the same records as the original export."""
        await _rich_dataset(client)
        first = await _export(db_conninfo)
        await _restore(target_conninfo, first)
        second = await _export(target_conninfo)
        assert first.splitlines()[1:] == second.splitlines()[1:]

    async def test_restore_refuses_a_non_empty_database(self, client, db_conninfo):
        """Restoring into a database that already has data is refused and writes nothing."""
        await make_artifact(client, content="already here")
        data = await _export(db_conninfo)
        with pytest.raises(RestoreError, match="not empty.*artifacts"):
            await _restore(db_conninfo, data)
        with psycopg.connect(db_conninfo) as conn:
            assert conn.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 1

    async def test_failed_restore_leaves_nothing(self, client, db_conninfo, target_conninfo):
        """A record the database rejects rolls the whole restore back."""
        await make_artifact(client, content="fine")
        lines = (await _export(db_conninfo)).splitlines()
        bad = orjson.loads(lines[2])
        assert bad["type"] == "artifact_versions"
        bad["data"]["content_hash"] = "0" * 64
        data = b"\n".join([*lines[:2], orjson.dumps(bad), *lines[3:]])
        with pytest.raises(RestoreError, match="artifact_versions"):
            await _restore(target_conninfo, data)
        with psycopg.connect(target_conninfo) as conn:
            assert conn.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 0


class TestFormat:
    async def test_header_and_records(self, client, db_conninfo):
        """The first line is the versioned header; every other line is a typed record."""
        await make_artifact(client, content="x")
        lines = (await _export(db_conninfo)).splitlines()
        header = orjson.loads(lines[0])
        assert header["format"] == "mimir-export" and header["version"] == 3
        assert header["schema_revision"] and header["exported_at"]
        records = [orjson.loads(line) for line in lines[1:]]
        types = [r["type"] for r in records]
        assert types[:2] == ["artifacts", "artifact_versions"]
        assert set(types[2:]) <= {"embedding_spaces"}  # the app registers a default space
        version = records[1]["data"]
        assert version["content"] == "x" and set(version) == set(TABLES["artifact_versions"])

    async def test_unknown_version_is_refused(self, target_conninfo):
        """A file of another format version is refused with the supported version named."""
        data = orjson.dumps({"format": "mimir-export", "version": 4}) + b"\n"
        with pytest.raises(RestoreError, match="version 4 is not supported.*versions 1, 2, 3"):
            await _restore(target_conninfo, data)

    async def test_plan_fields_round_trip(self, client, db_conninfo, target_conninfo):
        """created_by, proposed_by and an embedding's metadata (format version 2) survive
        export and restore."""
        await _post(client, "/api/v1/artifacts", {"artifact_type": "note", "content": "x",
                                                  "created_by": "user:maya"})
        await _post(client, "/api/v1/intents", {"statement": "s", "proposed_by": "human"})
        await _restore(target_conninfo, await _export(db_conninfo))
        with psycopg.connect(target_conninfo) as conn:
            assert conn.execute("SELECT created_by FROM artifact_versions").fetchone()[0] \
                == "user:maya"
            assert conn.execute("SELECT proposed_by FROM intents").fetchone()[0] == "human"

    async def test_version_1_file_restores_with_defaults(self, client, db_conninfo,
                                                         target_conninfo):
        """A version 1 export (without the fields version 2 added, possibly with repeated
        intent group names from before names were unique) restores: the new fields get
        their defaults, a repeated group name becomes "<name> (<id>)"."""
        await make_artifact(client, content="old")
        group = await _post(client, "/api/v1/intents/groups", {"name": "dup"})
        lines = (await _export(db_conninfo)).splitlines()
        header = {**orjson.loads(lines[0]), "version": 1}
        records = [orjson.loads(line) for line in lines[1:]]
        for record in records:
            record["data"].pop({"artifact_versions": "created_by", "intents": "proposed_by",
                                "embeddings": "metadata"}.get(record["type"], ""), None)
            for field in ADDED_IN_3.get(record["type"], {}):  # nor those of version 3
                record["data"].pop(field)
        position = next(i for i, r in enumerate(records) if r["type"] == "intent_groups")
        twin = {"type": "intent_groups", "data": {
            **records[position]["data"], "id": "6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"}}
        records.insert(position + 1, twin)
        data = b"\n".join([orjson.dumps(header), *(orjson.dumps(r) for r in records)])
        await _restore(target_conninfo, data)
        with psycopg.connect(target_conninfo) as conn:
            names = dict(conn.execute("SELECT id::text, name FROM intent_groups").fetchall())
            created_by = conn.execute("SELECT created_by FROM artifact_versions").fetchone()[0]
        assert names == {group["id"]: "dup", twin["data"]["id"]: f"dup ({twin['data']['id']})"}
        assert created_by is None

    async def test_out_of_order_records_are_refused(self, target_conninfo):
        """Records must come in table order."""
        data = b"\n".join([orjson.dumps({"format": "mimir-export", "version": 1}),
                           orjson.dumps({"type": "spans", "data": {}}),
                           orjson.dumps({"type": "artifacts", "data": {}})])
        with pytest.raises(RestoreError, match="line 2: a spans record must have"):
            await _restore(target_conninfo, data)

    def test_gzip_round_trip_via_cli(self, db_conninfo, target_conninfo, tmp_path,
                                     monkeypatch):
        """`mimir export x.gz` writes gzip; `mimir import mimir x.gz` restores it, once."""
        import typer
        from typer.testing import CliRunner

        from mimir.transfer import cli as portability_cli

        with psycopg.connect(db_conninfo) as conn:
            conn.execute("INSERT INTO artifacts (artifact_type) VALUES ('note')")
        app = typer.Typer()
        app.command("export")(portability_cli.export_command)
        app.command("restore")(portability_cli.import_mimir_command)
        path = str(tmp_path / "out.jsonl.gz")

        def run(conninfo: str, *args: str):
            params = conninfo_to_dict(conninfo)
            url = f"postgresql:///{params.pop('dbname')}?{urlencode(params)}"
            monkeypatch.setenv("DATABASE_URL", url)
            monkeypatch.setenv("MIMIR_AUTO_MIGRATE", "false")
            return CliRunner().invoke(app, list(args))

        result = run(db_conninfo, "export", path)
        assert result.exit_code == 0, result.output
        with gzip.open(path) as handle:
            assert orjson.loads(handle.readline())["format"] == "mimir-export"
        result = run(target_conninfo, "restore", path)
        assert result.exit_code == 0, result.output
        assert "restored 1 artifacts" in result.output
        result = run(target_conninfo, "restore", path)
        assert result.exit_code == 1 and "not empty" in result.output


class TestChainLevels:
    def test_deepest_link_first(self):
        """A->B->C is applied as A->B, then B->C."""
        assert chain_levels({"a": "b", "b": "c", "x": "y"}) in (
            [["a"], ["b", "x"]], [["a"], ["x", "b"]])


class TestFilesImport:
    async def test_import_edit_and_rerun(self, db_conninfo, tmp_path):
        """Files become documents; an edit appends a version; unchanged files add nothing."""
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "a.md").write_text(
            "---\ntitle: Front Title\ntags: [x, y]\ndate: 2024-01-02\n---\n# Heading\nbody\n")
        (tmp_path / "b.markdown").write_text("intro\n# B heading\n")
        (tmp_path / "c.txt").write_text("plain text")
        (tmp_path / "skip.json").write_text("{}")
        (tmp_path / ".hidden.md").write_text("# hidden")
        # As `mimir import files` runs: the app role in a namespace, which its jobs get.
        async with app_connection(db_conninfo, "default") as conn:
            first = await import_files(conn, tmp_path, max_chars=10_000)
            assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
            (tmp_path / "c.txt").write_text("plain text, edited")
            dry = await import_files(conn, tmp_path, max_chars=10_000, dry_run=True)
            assert (dry.created, dry.updated, dry.unchanged) == (0, 1, 2)
            second = await import_files(conn, tmp_path, max_chars=10_000)
            assert (second.created, second.updated, second.unchanged) == (0, 1, 2)
            third = await import_files(conn, tmp_path, max_chars=10_000)
            assert (third.created, third.updated, third.unchanged) == (0, 0, 3)
            rows = await (await conn.execute(
                "SELECT a.external_id, a.title, a.artifact_type::text AS kind, a.source, a.metadata,"
                " max(v.version_number) AS n FROM artifacts a JOIN artifact_versions v"
                " ON v.artifact_id = a.id GROUP BY a.id, a.namespace ORDER BY a.external_id")).fetchall()
        by_path = {r["external_id"]: r for r in rows}
        assert set(by_path) == {"notes/a.md", "b.markdown", "c.txt"}
        assert by_path["notes/a.md"]["title"] == "Front Title"
        assert by_path["notes/a.md"]["metadata"]["front_matter"] == {
            "title": "Front Title", "tags": ["x", "y"], "date": "2024-01-02"}
        assert by_path["b.markdown"]["title"] == "B heading"
        assert by_path["c.txt"]["title"] == "c.txt"
        assert by_path["c.txt"]["n"] == 2 and by_path["notes/a.md"]["n"] == 1
        assert {r["kind"] for r in rows} == {"document"} and {r["source"] for r in rows} == {
            "files"}

    def test_cli_dry_run_writes_nothing(self, db_conninfo, tmp_path, monkeypatch):
        """`mimir import files DIR --dry-run` reports what it would create and writes nothing."""
        import typer
        from typer.testing import CliRunner

        from mimir.transfer import cli as portability_cli

        (tmp_path / "a.md").write_text("# A\n")
        app = typer.Typer()
        app.command("files")(portability_cli.import_files_command)
        app.command("noop")(lambda: None)
        params = conninfo_to_dict(db_conninfo)
        monkeypatch.setenv("DATABASE_URL",
                           f"postgresql:///{params.pop('dbname')}?{urlencode(params)}")
        monkeypatch.setenv("MIMIR_AUTO_MIGRATE", "false")
        result = CliRunner().invoke(app, ["files", str(tmp_path), "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "dry run: 1 would be created, 0 would be updated, 0 unchanged" in result.output
        with psycopg.connect(db_conninfo) as conn:
            assert conn.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 0
