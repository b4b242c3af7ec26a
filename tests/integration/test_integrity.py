"""The invariant checker (mimir.integrity, `mimir check`): silent on a database written
through the API; on a database corrupted behind the rules' back (triggers and foreign keys
off with session_replication_role = replica) it names every broken row, and the command
exits 1 with a readable list or JSON."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid

import psycopg
import pytest

from mimir.integrity import CHECKS, check_conninfo
from tests.factories import append_version, make_artifact, make_span
from tests.faults import MIMIR, mimir_env


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _run_check(conninfo: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MIMIR, "check", *args], check=False, env=mimir_env(conninfo),
                          capture_output=True, text=True, timeout=120)


async def _write_everything(client) -> dict[str, str]:
    """One of each entity through the API, linked the way real data is."""
    artifact = await make_artifact(client, content="we meet on thursdays at ten")
    await append_version(client, artifact_id=artifact["id"], content="we meet on fridays")
    other = await make_artifact(client, content="a second note", kind="document")
    span = await make_span(client, artifact_id=artifact["id"], version_number=2,
                           start_offset=3, end_offset=7)
    group = (await client.post("/api/v1/intents/groups", json={"name": "cadence"})).json()
    intent = (await client.post("/api/v1/intents", json={
        "statement": "meet weekly", "group_id": group["id"],
        "provenance": {"model": "m", "evidence_span_ids": [span["id"]]}})).json()
    decision = (await client.post("/api/v1/decisions", json={"statement": "thursdays"})).json()
    response = await client.patch(f"/api/v1/decisions/{decision['id']}",
                                  json={"supersede_with": {"statement": "fridays"}})
    assert response.status_code == 200, response.text
    relation = await client.post("/api/v1/relations", json={
        "source_type": "intent", "source_id": intent["id"], "relation_type": "derived_from",
        "target_type": "span", "target_id": span["id"]})
    assert relation.status_code == 201, relation.text
    response = await client.post("/api/v1/relations", json={
        "source_type": "artifact", "source_id": artifact["id"], "relation_type": "cites",
        "target_type": "artifact", "target_id": other["id"]})
    assert response.status_code == 201, response.text
    return {"artifact": artifact["id"], "span": span["id"], "intent": intent["id"]}


class TestCleanDatabase:
    async def test_api_written_database_has_no_findings(self, client, db_conninfo):
        """Artifacts with versions, spans, intents in groups, a supersession, relations,
        provenance with evidence and an embedding: every check runs and finds nothing."""
        ids = await _write_everything(client)
        with psycopg.connect(db_conninfo, autocommit=True) as conn:
            space = conn.execute(
                "INSERT INTO embedding_spaces (name, model, dimensions) VALUES ('t', 'm', 3) "
                "RETURNING id").fetchone()[0]
            conn.execute("INSERT INTO embeddings (space_id, target_type, target_id, embedding) "
                         "VALUES (%s, 'span', %s, '[1,2,3]')", (space, ids["span"]))
        report = await check_conninfo(db_conninfo)
        assert report.findings == [], report.format_text()
        assert report.ok and report.violations == 0
        assert report.checks_run == len(CHECKS)
        assert report.format_text().startswith(f"ok: {len(CHECKS)} checks, no violations")

    def test_cli_exits_0_on_a_clean_database(self, db_conninfo):
        """`mimir check` on a migrated empty database prints ok and exits 0; --json says
        ok with no findings."""
        result = _run_check(db_conninfo)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("ok:")
        result = _run_check(db_conninfo, "--json")
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout)
        assert body["ok"] is True and body["findings"] == [] and body["violations"] == 0


@pytest.fixture
def corrupted(db_conninfo) -> dict[str, str]:
    """A database with one row breaking each rule, written as superuser with triggers and
    foreign keys off; returns the ids the checker must name."""
    ids = {name: str(uuid.uuid4()) for name in (
        "no_v1", "gap", "orphan_version", "missing_artifact", "bad_hash", "bad_hash_version", "orphan_span",
        "missing_version", "outside_span", "provenance", "missing_target", "evidence_prov",
        "missing_span", "orphan_evidence_prov", "relation", "missing_intent", "space",
        "embedding", "bad_dims", "intent", "missing_group", "import", "cross")}
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        # The global rows first, each on its own (on Citus these are reference tables, which
        # a transaction may not write after writing the distributed ones).
        conn.execute("INSERT INTO namespaces (name) VALUES ('other')")
        conn.execute("INSERT INTO embedding_spaces (id, name, model, dimensions) "
                     "VALUES (%s, 'test', 'm', 3)", (ids["space"],))
        good = conn.execute("INSERT INTO artifacts (artifact_type) VALUES ('note') RETURNING id"
                            ).fetchone()[0]
        conn.execute("INSERT INTO artifact_versions (artifact_id, version_number, content, "
                     "content_hash) VALUES (%s, 1, 'hello world', %s) RETURNING id",
                     (good, _sha("hello world")))
        # The hash rule is a CHECK constraint, which replica mode does not turn off: drop
        # it in this throwaway database.
        conn.execute("ALTER TABLE artifact_versions "
                     "DROP CONSTRAINT ck_artifact_versions_content_hash_is_sha256")
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            q = conn.execute
            q("INSERT INTO artifacts (id, artifact_type) VALUES (%s, 'note')", (ids["no_v1"],))
            q("INSERT INTO artifacts (id, artifact_type) VALUES (%s, 'note')", (ids["gap"],))
            gap_versions = [q("INSERT INTO artifact_versions (artifact_id, version_number, "
                              "content, content_hash) VALUES (%s, %s, 'short', %s) RETURNING id",
                              (ids["gap"], number, _sha("short"))).fetchone()[0]
                            for number in (1, 3)]
            ids["gap_v1"], ids["gap_v3"] = (str(v) for v in gap_versions)
            # Replica mode skips the postings trigger: the versions above have none, and a
            # posting of a superseded version plus a counter off by one are planted.
            q("INSERT INTO search_postings (lexeme, version_id, tf, dl) "
              "VALUES ('short', %s, 1, 1)", (ids["gap_v1"],))
            q("UPDATE search_stats SET docs = docs + 1 WHERE shard = 5")
            q("INSERT INTO artifact_versions (id, artifact_id, version_number, content, "
              "content_hash) VALUES (%s, %s, 1, 'x', %s)",
              (ids["orphan_version"], ids["missing_artifact"], _sha("x")))
            q("INSERT INTO artifacts (id, artifact_type) VALUES (%s, 'note')", (ids["bad_hash"],))
            q("INSERT INTO artifact_versions (id, artifact_id, version_number, content, "
              "content_hash) VALUES (%s, %s, 1, 'text', %s)",
              (ids["bad_hash_version"], ids["bad_hash"], "0" * 64))
            q("INSERT INTO spans (id, artifact_version_id, start_offset, end_offset) "
              "VALUES (%s, %s, 0, 1)", (ids["orphan_span"], ids["missing_version"]))
            version = q("SELECT id FROM artifact_versions WHERE artifact_id = %s",
                        (good,)).fetchone()[0]
            q("INSERT INTO spans (id, artifact_version_id, start_offset, end_offset) "
              "VALUES (%s, %s, 5, 40)", (ids["outside_span"], version))
            q("INSERT INTO provenance (id, target_type, target_id) VALUES (%s, 'intent', %s)",
              (ids["provenance"], ids["missing_target"]))
            q("INSERT INTO provenance (id, target_type, target_id) VALUES (%s, 'artifact', %s)",
              (ids["evidence_prov"], good))
            q("INSERT INTO provenance_evidence (provenance_id, span_id) VALUES (%s, %s)",
              (ids["evidence_prov"], ids["missing_span"]))
            q("INSERT INTO provenance_evidence (provenance_id, span_id) VALUES (%s, %s)",
              (ids["orphan_evidence_prov"], ids["outside_span"]))
            q("INSERT INTO relations (id, source_type, source_id, relation_type, target_type, "
              "target_id) VALUES (%s, 'artifact', %s, 'mentions', 'intent', %s)",
              (ids["relation"], good, ids["missing_intent"]))
            # A relation of namespace `other` from `default`'s artifact (to itself).
            q("INSERT INTO relations (id, namespace, source_type, source_id, relation_type, "
              "target_type, target_id) VALUES (%s, 'other', 'artifact', %s, 'mentions', "
              "'relation', %s)", (ids["cross"], good, ids["cross"]))
            q("INSERT INTO embeddings (id, space_id, target_type, target_id, embedding) "
              "VALUES (%s, %s, 'span', %s, '[1,2,3]')",
              (ids["embedding"], ids["space"], ids["missing_span"]))
            q("INSERT INTO embeddings (id, space_id, target_type, target_id, embedding) "
              "VALUES (%s, %s, 'artifact', %s, '[1,2]')", (ids["bad_dims"], ids["space"], good))
            q("INSERT INTO intents (id, statement, intent_group_id) VALUES (%s, 'x', %s)",
              (ids["intent"], ids["missing_group"]))
        conn.execute("INSERT INTO imports (id, kind, status, filename, file_path) "
                     "VALUES (%s, 'chatgpt', 'running', 'export.zip', '/nowhere')",
                     (ids["import"],))
    return ids


class TestCorruptedDatabase:
    async def test_each_violation_is_named(self, db_conninfo, corrupted):
        """Every planted violation appears under its rule with the offending row's id."""
        ids = corrupted
        report = await check_conninfo(db_conninfo)
        found = {f.check: f for f in report.findings}

        def subjects(check: str) -> set[str]:
            assert check in found, f"{check} found nothing:\n{report.format_text()}"
            return {row["subject"] for row in found[check].rows}

        assert subjects("artifact_without_version_one") == {ids["no_v1"]}
        assert subjects("version_number_gaps") == {ids["gap"]}
        assert "1, 3" in found["version_number_gaps"].rows[0]["detail"]
        assert subjects("version_without_artifact") == {ids["orphan_version"]}
        assert subjects("version_hash_mismatch") == {ids["bad_hash_version"]}
        assert f"content_hash {'0' * 64}, but sha256(content) is {_sha('text')}" in \
            found["version_hash_mismatch"].rows[0]["detail"]
        assert subjects("span_without_version") == {ids["orphan_span"]}
        assert subjects("span_outside_content") == {ids["outside_span"]}
        assert "11 characters" in found["span_outside_content"].rows[0]["detail"]
        assert subjects("provenance_without_target") == {ids["provenance"]}
        assert ids["missing_target"] in found["provenance_without_target"].rows[0]["detail"]
        assert subjects("evidence_without_span") == {ids["evidence_prov"]}
        assert subjects("evidence_without_provenance") == {ids["orphan_evidence_prov"]}
        # Ids are unique per namespace (migration 0014): an end in another namespace is
        # missing from the relation's own, and also a namespace mismatch.
        assert subjects("relation_end_missing") == {ids["relation"], ids["cross"]}
        assert any("target intent " + ids["missing_intent"] in row["detail"]
                   for row in found["relation_end_missing"].rows)
        assert subjects("embedding_target_missing") == {ids["embedding"]}
        assert subjects("namespace_mismatch") == {ids["cross"]}
        assert "in namespace other: its source artifact" in \
            found["namespace_mismatch"].rows[0]["detail"]
        assert subjects("embedding_space_mismatch") == {ids["bad_dims"]}
        assert subjects("reference_missing") == {ids["intent"]}
        assert subjects("search_postings_stale") == {
            ids["gap_v1"], ids["gap_v3"], ids["orphan_version"], ids["bad_hash_version"]}
        assert subjects("search_stats_drift") == {"search_stats"}
        assert subjects("imports_stalled") == {ids["import"]}
        assert found["imports_stalled"].severity == "warning"
        assert not report.ok
        assert report.violations == 14 + 4 + 1 + 1  # the cross relation counts twice
        assert len(report.findings) == len(CHECKS)

    async def test_limit_lists_fewer_rows_but_counts_all(self, db_conninfo):
        """With limit 2, five artifacts without versions are counted as 5 and 2 are listed."""
        with psycopg.connect(db_conninfo, autocommit=True) as conn:
            for _ in range(5):
                conn.execute("INSERT INTO artifacts (artifact_type) VALUES ('note')")
        report = await check_conninfo(db_conninfo, limit=2)
        [finding] = report.findings
        assert finding.check == "artifact_without_version_one"
        assert finding.total == 5 and len(finding.rows) == 2
        assert "... and 3 more" in report.format_text()

    def test_cli_lists_violations_and_exits_1(self, db_conninfo, corrupted):
        """`mimir check` prints one block per broken rule with the offending ids and exits 1;
        --json carries the same findings."""
        result = _run_check(db_conninfo)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "ERROR artifact_without_version_one: 1 artifacts without a version 1" in \
            result.stdout
        assert corrupted["orphan_span"] in result.stdout
        assert "WARNING imports_stalled: 1" in result.stdout
        assert result.stdout.rstrip().splitlines()[-1].startswith("20 violations of 16 rules")
        result = _run_check(db_conninfo, "--json", "--limit", "1")
        assert result.returncode == 1
        body = json.loads(result.stdout)
        assert body["ok"] is False and body["violations"] == 20 and body["warnings"] == 1
        gaps = next(f for f in body["findings"] if f["check"] == "version_number_gaps")
        assert gaps["rows"] == [{"subject": corrupted["gap"],
                                 "detail": "version numbers are 1, 3, not 1..2"}]


class TestStalledImports:
    async def test_running_import_with_live_or_dead_worker(self, db_conninfo):
        """A running import whose job is held by a beating worker is fine; once that worker
        has been silent past the threshold it is reported, as a warning only."""
        import_id = str(uuid.uuid4())
        with psycopg.connect(db_conninfo, autocommit=True) as conn:
            worker = conn.execute("INSERT INTO procrastinate_workers DEFAULT VALUES "
                                  "RETURNING id").fetchone()[0]
            conn.execute("INSERT INTO imports (id, kind, status, filename, file_path) "
                         "VALUES (%s, 'chatgpt', 'running', 'c.json', '/x')", (import_id,))
            conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, "
                         "worker_id) VALUES ('imports', 'imports.run', %s, 'doing', %s)",
                         (json.dumps({"import_id": import_id}), worker))
            assert (await check_conninfo(db_conninfo)).findings == []
            conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - "
                         "interval '5 minutes' WHERE id = %s", (worker,))
        report = await check_conninfo(db_conninfo)
        [finding] = report.findings
        assert finding.check == "imports_stalled" and finding.rows[0]["subject"] == import_id
        assert "held by a worker silent for 300 s" in finding.rows[0]["detail"]
        assert report.ok
        result = _run_check(db_conninfo)
        assert result.returncode == 0, result.stdout
        assert "ok (warnings only)" in result.stdout
