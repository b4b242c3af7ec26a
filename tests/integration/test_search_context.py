"""A short conversation message is indexed for full-text search with the words of the turn
before it (migration 0010): which messages get it, from which predecessor, and that the
BM25 statistics stay exact. Real database, real ASGI app."""

from __future__ import annotations

import psycopg

from tests.factories import append_version, make_artifact
from tests.integration.test_search_recall import artifact_ids, text_search


def postings_of(conninfo: str, artifact_id: str) -> set[str]:
    """The lexemes indexed for an artifact's latest version."""
    with psycopg.connect(conninfo) as conn:
        return {row[0] for row in conn.execute(
            "SELECT p.lexeme FROM search_postings p JOIN artifact_versions v "
            "ON v.id = p.version_id WHERE v.artifact_id = %s", (artifact_id,))}


async def say(client, source: str, content: str, **fields):
    return await make_artifact(client, content=content, source=source, **fields)


class TestPreviousTurn:
    """A short note of a conversation source carries its predecessor's words."""

    async def test_a_reply_is_found_by_the_words_of_the_question_it_answers(self, client):
        """The answer names nothing the question asks about; the turn before it does. Match
        offsets still point into the reply's own text only."""
        question = await say(client, "chat-1", "How did the half marathon go on Sunday?")
        reply = await say(client, "chat-1", "I FINISHED! 1 hour 58 minutes.")
        await say(client, "chat-2", "I finished the book")
        body = await text_search(client, "When did she run the marathon?", sources=["chat-1"])
        assert set(artifact_ids(body)) == {question["id"], reply["id"]}
        reply_hit = next(h for h in body["hits"] if h["artifact_id"] == reply["id"])
        assert reply_hit["matches"] == []

    async def test_the_predecessor_is_the_last_note_of_the_source_stored_before(
            self, client, db_conninfo):
        """Not a note of another source, not one stored later: ingest order decides."""
        await say(client, "chat-1", "Shall we try the ramen place?")
        await say(client, "chat-2", "The kayak trip is booked")
        reply = await say(client, "chat-1", "Sure, Thursday works")
        await say(client, "chat-1", "Bring the tickets")
        lexemes = postings_of(db_conninfo, reply["id"])
        assert {"ramen", "place", "sure", "thursday"} <= lexemes
        assert not lexemes & {"kayak", "trip", "ticket", "bring"}

    async def test_long_messages_default_source_and_documents_get_no_context(
            self, client, db_conninfo):
        """A message over 300 characters carries its own context; notes in the default
        source `api` are not a conversation; a document is not a turn."""
        await say(client, "chat-1", "Any news about the apartment?")
        long_reply = await say(client, "chat-1", "Yes! " + "We looked at many places. " * 12)
        await make_artifact(client, content="Where is the lighthouse?")
        in_api = await make_artifact(client, content="Down by the harbour")
        await say(client, "papers", "Kelp forests decline", kind="document")
        document = await say(client, "papers", "Urchin grazing", kind="document")
        assert "apart" not in postings_of(db_conninfo, long_reply["id"])
        assert "lighthous" not in postings_of(db_conninfo, in_api["id"])
        assert "kelp" not in postings_of(db_conninfo, document["id"])

    async def test_a_long_predecessor_gives_its_first_200_characters_cut_at_a_word(
            self, client, db_conninfo):
        opening = "alpha " * 33 + "boundaryword omega"  # "boundaryword" spans character 200
        await say(client, "chat-1", opening)
        reply = await say(client, "chat-1", "ok")
        lexemes = postings_of(db_conninfo, reply["id"])
        assert "alpha" in lexemes
        assert not lexemes & {"boundaryword", "omega", "boundar"}

    async def test_a_new_version_is_indexed_with_its_predecessor_and_stats_stay_exact(
            self, client, db_conninfo):
        """Appending a version re-indexes the message with the turn before it; the BM25
        counters equal a recount of the postings throughout."""
        await say(client, "chat-1", "Did the vet call about Rusty?")
        reply = await say(client, "chat-1", "Not yet")
        await append_version(client, artifact_id=reply["id"], content="Yes, he is fine")
        assert {"vet", "rusti", "fine"} <= postings_of(db_conninfo, reply["id"])
        with psycopg.connect(db_conninfo) as conn:
            kept = conn.execute("SELECT sum(docs), sum(total_len) FROM search_stats").fetchone()
            counted = conn.execute("SELECT count(DISTINCT version_id), sum(tf) "
                                   "FROM search_postings").fetchone()
        assert tuple(kept) == tuple(counted)
        assert kept[0] == 2


def _stats_match_postings(conninfo: str) -> bool:
    with psycopg.connect(conninfo) as conn:
        kept = conn.execute("SELECT sum(docs), sum(total_len) FROM search_stats").fetchone()
        counted = conn.execute("SELECT count(DISTINCT version_id), sum(tf) "
                               "FROM search_postings").fetchone()
    return tuple(kept) == tuple(counted)


class TestMigration:
    """Migration 0010 re-indexes stored messages both ways."""

    def test_upgrade_adds_the_previous_turn_and_downgrade_removes_it(self, empty_db_conninfo):
        from mimir.db import migrate

        migrate.upgrade(empty_db_conninfo, "0007")
        with psycopg.connect(empty_db_conninfo, autocommit=True) as conn:
            for second, external_id, content in ((1, "m1", "How did the half marathon go?"),
                                                 (2, "m2", "I finished it!")):
                conn.execute(
                    "WITH a AS (INSERT INTO artifacts (kind, source, external_id, created_at) "
                    "VALUES ('note', 'chat-1', %s, "
                    "'2026-01-01T00:00:00Z'::timestamptz + make_interval(secs => %s)) "
                    "RETURNING id) INSERT INTO artifact_versions (artifact_id, version_number, "
                    "content, content_hash) SELECT a.id, 1, %s, encode(sha256(%s::bytea), 'hex') "
                    "FROM a", (external_id, second, content, content))
            reply = conn.execute("SELECT id::text FROM artifacts WHERE external_id = 'm2'"
                                 ).fetchone()[0]
        assert "marathon" not in postings_of(empty_db_conninfo, reply)
        migrate.upgrade(empty_db_conninfo)
        assert {"marathon", "finish"} <= postings_of(empty_db_conninfo, reply)
        assert _stats_match_postings(empty_db_conninfo)
        migrate.downgrade(empty_db_conninfo, "0007")
        assert postings_of(empty_db_conninfo, reply) == {"finish"}
        assert _stats_match_postings(empty_db_conninfo)
