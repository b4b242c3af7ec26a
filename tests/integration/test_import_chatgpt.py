"""`mimir import chatgpt`: a ChatGPT export becomes conversation artifacts with message spans."""

from __future__ import annotations

import json
import resource
import zipfile
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from typer.testing import CliRunner

from mimir.transfer.chatgpt import import_chatgpt
from mimir.transfer.cli import import_app
from tests.shared_data import shared_data_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "chatgpt"
_SHARED = shared_data_dir()
REAL_EXPORT = (_SHARED / "chatgpt-export") if _SHARED else Path("/nonexistent/chatgpt-export")


def rows(conninfo: str, query: str, *params) -> list[dict]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def count(conninfo: str, table: str) -> int:
    return rows(conninfo, f"SELECT count(*) AS n FROM {table}")[0]["n"]


def artifact(conninfo: str, external_id: str) -> dict:
    found = rows(conninfo, "SELECT * FROM artifacts WHERE source = 'chatgpt_export' "
                 "AND external_id = %s", external_id)
    assert found, f"no artifact {external_id}"
    return found[0]


def versions(conninfo: str, external_id: str) -> list[dict]:
    return rows(conninfo, "SELECT v.* FROM artifact_versions v JOIN artifacts a ON "
                "a.id = v.artifact_id WHERE a.external_id = %s ORDER BY version_number",
                external_id)


def spans(conninfo: str, version_id) -> list[dict]:
    return rows(conninfo, "SELECT s.*, substr(v.content, s.start_offset + 1, "
                "s.end_offset - s.start_offset) AS text FROM spans s JOIN artifact_versions v "
                "ON v.id = s.artifact_version_id WHERE s.artifact_version_id = %s ORDER BY start_offset", version_id)


def visible_messages(conversation: dict) -> int:
    """Messages on the current thread that have something to show."""
    mapping, node, shown = conversation["mapping"], conversation["current_node"], 0
    while node:
        message = mapping[node].get("message")
        if message and any(isinstance(p, str) and p.strip() or not isinstance(p, str)
                           for p in message["content"].get("parts", [None])):
            shown += 1
        node = mapping[node].get("parent")
    return shown


@pytest.mark.skipif(not REAL_EXPORT.is_dir(), reason="the real ChatGPT export is not present")
class TestRealExport:
    async def test_imports_everything_and_reimport_adds_nothing(self, db_conninfo, capsys):
        """All 192 conversations of the real 2023 export import with one span per visible
        message, and a second import of the same file writes nothing."""
        path = REAL_EXPORT / "conversations.json"
        conversations = json.loads(path.read_text())
        expected_messages = sum(visible_messages(c) for c in conversations)

        first = await import_chatgpt(db_conninfo, path)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert first.skipped == 0 and first.errors == [] and first.fatal is None
        assert first.created == 192
        assert first.messages == expected_messages
        assert first.spans == expected_messages
        conversation_artifacts = rows(db_conninfo, "SELECT count(*) AS n FROM artifacts WHERE "
                                      "artifact_type = 'conversation' AND source = 'chatgpt_export'")
        assert conversation_artifacts[0]["n"] == 192
        assert count(db_conninfo, "spans") == expected_messages
        raw_notes = rows(db_conninfo, "SELECT count(*) AS n FROM artifacts WHERE artifact_type = 'note' "
                         "AND external_id LIKE '%%#raw'")[0]["n"]
        assert raw_notes == first.raw_notes
        before = (count(db_conninfo, "artifacts"), count(db_conninfo, "artifact_versions"),
                  count(db_conninfo, "spans"))

        second = await import_chatgpt(db_conninfo, path)
        assert (second.created, second.updated, second.unchanged, second.spans) == (0, 0, 192, 0)
        assert (count(db_conninfo, "artifacts"), count(db_conninfo, "artifact_versions"),
                count(db_conninfo, "spans")) == before
        with capsys.disabled():
            print(f"\n[chatgpt import] first: {first.seconds:.2f} s, "
                  f"{192 / first.seconds:.0f} conversations/s, "
                  f"{first.messages / first.seconds:.0f} messages/s, raw notes {first.raw_notes}, "
                  f"peak RSS {peak_mb:.0f} MB; second: {second.seconds:.2f} s")


class TestTranscriptAndSpans:
    async def test_visible_thread_only_and_branches_kept(self, db_conninfo):
        """The transcript shows the current thread; edited and regenerated branches and the
        empty system message are kept in the version metadata."""
        summary = await import_chatgpt(db_conninfo, FIXTURES / "variants.json")
        assert (summary.created, summary.skipped) == (2, 0)
        [version] = versions(db_conninfo, "conv-branches")
        assert version["content"] == ("[user]:\nWhat is 2+2, exactly?\n\n"
                                      "[assistant] gpt-4:\nExactly 4.")
        kept = version["metadata"]["chatgpt"]
        other_ids = {n["id"] for n in kept["other_branches"]}
        assert other_ids == {"u1", "a1", "a2"}
        assert {n["message"]["content"]["parts"][0] for n in kept["other_branches"]} == {
            "What is 2+2? (first try)", "Four.", "It is 4 (draft)."}
        assert [n["id"] for n in kept["hidden_messages"]] == ["sys"]

    async def test_one_span_per_message_with_metadata(self, db_conninfo):
        """Each visible message has a `message` span over its block, labelled with the role,
        with author, model, timestamps, content type and ids in its metadata."""
        await import_chatgpt(db_conninfo, FIXTURES / "variants.json")
        [version] = versions(db_conninfo, "conv-branches")
        user, assistant = spans(db_conninfo, version["id"])
        assert (user["span_type"], user["label"], user["text"]) == (
            "message", "user", "[user]:\nWhat is 2+2, exactly?")
        assert assistant["text"] == "[assistant] gpt-4:\nExactly 4."
        assert assistant["metadata"] == {
            "role": "assistant", "author_name": None, "model_slug": "gpt-4", "create_time": None,
            "update_time": None, "content_type": "text", "message_id": "a2b", "node_id": "a2b"}

    async def test_null_create_time_and_root_without_message(self, db_conninfo):
        """A conversation with null create_time everywhere and a root node lacking
        `message` and `parent` imports."""
        summary = await import_chatgpt(db_conninfo, FIXTURES / "variants.json")
        assert summary.errors == []
        row = artifact(db_conninfo, "conv-branches")
        assert row["title"] == "Edited and regenerated"
        assert row["metadata"]["chatgpt"]["create_time"] is None

    async def test_every_content_type_is_rendered(self, db_conninfo):
        """Each content type renders readably; unknown ones as compact JSON; the raw non-text
        content (e.g. image part sizes) stays in the version metadata."""
        await import_chatgpt(db_conninfo, FIXTURES / "variants.json")
        [version] = versions(db_conninfo, "conv-types")
        text = version["content"]
        for expected in ("User profile:\nI am a baker.", ("[image: file-service://file-abc]\n"
                                                          "What is in this picture?\n42"), "**Looking**\nIt shows bread.",
                         "Thought for 3 seconds", "```python\nprint(6*7)\n```",
                         "[tool] python (execution_output):\nOutput:\n```\n42\n```",
                         "A page about bread\nL0: Bread - Wikipedia",
                         ("Quote from Bread <https://en.wikipedia.org/wiki/Bread>:\n"
                          "Bread is a staple food."),
                         '{"url":"https://x.test","snippet":"mystery"}',
                         "Error tool_error: fetch failed", "[assistant] o3:\nA loaf of bread."):
            assert expected in text
        assert "hidden context" not in text
        found = spans(db_conninfo, version["id"])
        assert [s["metadata"]["content_type"] for s in found] == [
            "user_editable_context", "multimodal_text", "thoughts", "reasoning_recap", "code",
            "execution_output", "tether_browsing_display", "tether_quote", "sonic_webpage",
            "system_error", "text"]
        kept = version["metadata"]["chatgpt"]
        image = next(e for e in kept["message_extras"] if e["message_id"] == "m1")
        assert image["content"]["parts"][0]["width"] == 10
        assert [n["id"] for n in kept["hidden_messages"]] == ["hid"]
        assert kept["model_slug"] == "o3"


class TestRobustness:
    async def test_malformed_conversation_skipped_others_imported(self, db_conninfo):
        """Malformed conversations are reported and skipped; the others import."""
        summary = await import_chatgpt(db_conninfo, FIXTURES / "malformed.json")
        assert (summary.created, summary.skipped) == (2, 3)
        assert any("conv-broken" in e and "current_node" in e for e in summary.errors)
        assert count(db_conninfo, "artifacts") == 2
        assert {r["external_id"] for r in rows(db_conninfo, "SELECT external_id FROM artifacts")} \
            == {"conv-ok", "conv-ok-2"}

    async def test_truncated_file_keeps_what_came_before(self, db_conninfo, tmp_path):
        """A file cut off mid-way is a fatal error after importing what preceded it."""
        data = (FIXTURES / "malformed.json").read_bytes()
        cut = tmp_path / "conversations.json"
        cut.write_bytes(data[: data.index(b'"conv-broken"')])
        summary = await import_chatgpt(db_conninfo, cut)
        assert summary.fatal is not None and summary.created == 1

    async def test_grown_conversation_gets_version_2_with_its_spans(self, db_conninfo):
        """A later export where a conversation grew appends version 2 with its own spans;
        the unchanged conversation stays at version 1."""
        await import_chatgpt(db_conninfo, FIXTURES / "variants.json")
        summary = await import_chatgpt(db_conninfo, FIXTURES / "grown.json")
        assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
        v1, v2 = versions(db_conninfo, "conv-branches")
        assert v2["version_number"] == 2 and v2["content"].endswith("[assistant] gpt-4:\nSix.")
        assert len(spans(db_conninfo, v1["id"])) == 2
        assert [s["text"] for s in spans(db_conninfo, v2["id"])][2:] == [
            "[user]:\nAnd 3+3?", "[assistant] gpt-4:\nSix."]
        assert len(versions(db_conninfo, "conv-types")) == 1
        assert summary.spans == 4

    async def test_dry_run_writes_nothing(self, db_conninfo):
        """--dry-run reports what would be created and writes nothing; after a real import it
        reports the grown conversation as an update."""
        summary = await import_chatgpt(db_conninfo, FIXTURES / "variants.json", dry_run=True)
        assert (summary.created, summary.spans, summary.dry_run) == (2, 13, True)
        assert count(db_conninfo, "artifacts") == 0 and count(db_conninfo, "spans") == 0
        await import_chatgpt(db_conninfo, FIXTURES / "variants.json")
        before = count(db_conninfo, "artifact_versions")
        summary = await import_chatgpt(db_conninfo, FIXTURES / "grown.json", dry_run=True)
        assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
        assert count(db_conninfo, "artifact_versions") == before

    async def test_zip_export(self, db_conninfo, tmp_path):
        """The export's .zip imports like its conversations.json."""
        archive = tmp_path / "export.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.write(FIXTURES / "variants.json", "conversations.json")
            zf.writestr("user.json", "{}")
        summary = await import_chatgpt(db_conninfo, archive)
        assert (summary.created, summary.spans) == (2, 13)

    async def test_oversized_details_go_to_a_raw_note(self, db_conninfo, tmp_path):
        """Details beyond the metadata limit are kept as a `<id>#raw` note with the raw JSON."""
        conversations = json.loads((FIXTURES / "variants.json").read_text())
        big = conversations[0]
        big["mapping"]["a1"]["message"]["content"]["parts"] = ["x" * 70_000]
        path = tmp_path / "conversations.json"
        path.write_text(json.dumps([big]))
        summary = await import_chatgpt(db_conninfo, path)
        assert (summary.created, summary.raw_notes) == (1, 1)
        [raw] = versions(db_conninfo, "conv-branches#raw")
        assert json.loads(raw["content"]) == big
        [version] = versions(db_conninfo, "conv-branches")
        assert version["metadata"]["chatgpt"]["raw_artifact"]["external_id"] == "conv-branches#raw"


class TestCommand:
    def test_cli_dry_run_summary(self, tmp_path, monkeypatch):
        """`mimir import chatgpt --dry-run` prints a summary line; a missing path is exit 2."""
        from mimir.db import lifecycle

        monkeypatch.setattr(lifecycle, "prepare_database",
                            lambda settings: lifecycle.PreparedDatabase(conninfo=""))
        runner = CliRunner()
        result = runner.invoke(import_app, ["chatgpt", str(FIXTURES / "variants.json"),
                                            "--dry-run", "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "2 would be created" in result.output and "13 spans" in result.output
        result = runner.invoke(import_app, ["chatgpt", str(tmp_path / "nope.json")])
        assert result.exit_code == 2
