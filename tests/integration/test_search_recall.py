"""Search for natural-language questions: `match: auto`, BM25 from the postings table (kept
by a trigger as versions are appended), title and metadata as searchable context, paging,
and semantic search that stays within a filtered scope. Real database, real ASGI app."""

from __future__ import annotations

import math
from typing import Any

import httpx
import psycopg
import pytest

from tests.factories import append_version, make_artifact

TEXT = "/api/v1/search/text"


async def text_search(client: httpx.AsyncClient, query: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(TEXT, json={"query": query, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def artifact_ids(body: dict[str, Any]) -> list[str]:
    return [hit["artifact_id"] for hit in body["hits"]]


class TestQuestions:
    async def test_a_question_finds_texts_that_share_only_some_of_its_words(self, client):
        """A plain question is not a boolean query: the note holding the answer has two of
        its five content words and is still found, first."""
        answer = await make_artifact(client, content="I went to the pottery class yesterday!")
        await make_artifact(client, content="The weather was lovely on Sunday.")
        body = await text_search(client, "When did Maya go to the pottery class last spring?")
        assert body["match"] == "any"
        assert artifact_ids(body)[:1] == [answer["id"]]
        # Web-search semantics on request: every term must match, so nothing does.
        strict = await text_search(client, "When did Maya go to the pottery class last spring?",
                                   match="all")
        assert strict["match"] == "all" and strict["hits"] == []

    async def test_operators_keep_their_meaning(self, client):
        """Quotes or a leading minus make `auto` a web-search query."""
        both = await make_artifact(client, content="weekly sync moved to thursday")
        loose = await make_artifact(client, content="sync is weekly now")
        phrase = await text_search(client, '"weekly sync"', limit=1)
        assert phrase["match"] == "all" and artifact_ids(phrase) == [both["id"]]
        # Fewer full matches than asked for: texts with any of the words follow them.
        relaxed = await text_search(client, '"weekly sync"')
        assert relaxed["match"] == "all_then_any"
        assert artifact_ids(relaxed) == [both["id"], loose["id"]]
        assert [h["rank"] for h in relaxed["hits"]] == [1, 2]
        excluded = await text_search(client, "sync -thursday")
        assert excluded["match"] == "all_then_any" and artifact_ids(excluded) == [loose["id"]]
        # `any` with an exclusion: any positive word, none of the excluded ones.
        anyq = await text_search(client, "weekly -thursday", match="any")
        assert both["id"] not in artifact_ids(anyq) and len(anyq["hits"]) == 1

    async def test_bm25_score_is_exact(self, client):
        """The score is Okapi BM25 (k1 1.2, b 0.75) with IDF log(1 + (N - df + .5)/(df + .5))
        and document length in occurrences, as computed here by hand."""
        docs = ["apple banana apple", "banana cherry", "cherry date elderberry fig"]
        made = [await make_artifact(client, content=d) for d in docs]
        body = await text_search(client, "apple banana")
        lengths = [3, 2, 4]
        avgdl = sum(lengths) / 3
        n = 3

        def idf(df: int) -> float:
            return math.log(1 + (n - df + 0.5) / (df + 0.5))

        def part(tf: int, dl: int, df: int) -> float:
            return idf(df) * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))

        expected = {made[0]["id"]: part(2, 3, 1) + part(1, 3, 2), made[1]["id"]: part(1, 2, 2)}
        got = {h["artifact_id"]: h["score"] for h in body["hits"]}
        assert got == pytest.approx(expected)
        assert artifact_ids(body) == [made[0]["id"], made[1]["id"]]


class TestPostings:
    async def test_postings_follow_the_latest_version(self, client, db_conninfo):
        """Appending a version replaces the artifact's postings; the statistics count each
        artifact once; older text is still found with latest_only false."""
        note = await make_artifact(client, content="the quarterly budget review")
        await append_version(client, artifact_id=note["id"], content="a picnic in the park")
        with psycopg.connect(db_conninfo) as conn:
            lexemes = {r[0] for r in conn.execute(
                "SELECT p.lexeme FROM search_postings p JOIN artifact_versions v "
                "ON v.id = p.version_id WHERE v.artifact_id = %s", (note["id"],))}
            docs, total = conn.execute(
                "SELECT sum(docs), sum(total_len) FROM search_stats").fetchone()
        assert lexemes == {"picnic", "park"}
        assert (docs, total) == (1, 2)
        assert (await text_search(client, "budget review"))["hits"] == []
        old = await text_search(client, "budget review", latest_only=False)
        assert [h["version_number"] for h in old["hits"]] == [1]
        assert artifact_ids(await text_search(client, "where was the picnic?")) == [note["id"]]

    async def test_metadata_and_title_are_searchable_context(self, client):
        """A note's speaker (metadata) and title count as words of the note, so a question
        naming the speaker prefers that speaker's message; offsets still point into the
        content only."""
        maya = await make_artifact(client, content="I adopted a kitten last week",
                                   metadata={"speaker": "Maya", "session": 3})
        await make_artifact(client, content="I adopted a puppy last week",
                            metadata={"speaker": "Jonah"})
        titled = await make_artifact(client, content="notes", title="Zanzibar itinerary")
        body = await text_search(client, "What did Maya adopt?")
        assert artifact_ids(body)[0] == maya["id"]
        assert all(m["text"] != "Maya" for m in body["hits"][0]["matches"])
        assert artifact_ids(await text_search(client, "zanzibar")) == [titled["id"]]

    async def test_offset_pages_through_the_ranking(self, client):
        for i in range(7):
            await make_artifact(client, content="river " * (i + 1) + "stones")
        whole = await text_search(client, "river", limit=7)
        first = await text_search(client, "river", limit=3)
        second = await text_search(client, "river", limit=3, offset=3)
        assert [h["entity_id"] for h in first["hits"] + second["hits"]] == \
            [h["entity_id"] for h in whole["hits"]][:6]
        assert [h["rank"] for h in second["hits"]] == [4, 5, 6]
        too_deep = await client.post(TEXT, json={"query": "river", "limit": 100, "offset": 950})
        assert too_deep.status_code == 422


@pytest.fixture
async def vectors_client(db_conninfo, tmp_path):
    """An app without an embedding model: vectors are written through the API."""
    from mimir.app import create_app
    from mimir.config import Settings
    from mimir.db.lifecycle import PreparedDatabase

    settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path), MIMIR_WORKER="off",
                        MIMIR_EMBEDDING_PROVIDER="none")
    app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


class TestSemanticScope:
    async def test_a_source_filter_finds_its_passages_however_far_others_are(self, vectors_client):
        """300 passages of source `crowd` lie nearer the query than the one passage of
        source `quiet`; searching within `quiet` still returns it (the filter applies
        before the nearest are cut, not after)."""
        http = vectors_client
        space = await http.post("/api/v1/embeddings/spaces", json={
            "name": "toy", "model": "toy", "dimensions": 3, "distance": "cosine"})
        assert space.status_code == 201, space.text
        vectors = []
        for i in range(301):
            source = "quiet" if i == 300 else "crowd"
            artifact = await make_artifact(http, content=f"passage {i}", source=source)
            span = await http.post("/api/v1/spans", json={
                "version_id": artifact["versions"][0]["id"], "start_offset": 0,
                "end_offset": len(f"passage {i}"), "span_type": "chunk"})
            assert span.status_code == 201, span.text
            vector = [0.0, 1.0, 0.0] if source == "quiet" else [1.0, 0.01 * (i % 7), 0.0]
            vectors.append({"target_type": "span", "target_id": span.json()["id"],
                            "vector": vector})
        written = await http.post("/api/v1/embeddings", json={"space": "toy", "vectors": vectors})
        assert written.status_code == 200, written.text
        body = {"vector": [1.0, 0.0, 0.0], "space": "toy", "sources": ["quiet"]}
        hits = (await http.post("/api/v1/search/semantic", json=body)).json()["hits"]
        assert [h["source"] for h in hits] == ["quiet"]
        assert hits[0]["span"]["text"] == "passage 300"
        crowd = (await http.post("/api/v1/search/semantic", json={
            **body, "sources": ["crowd"], "limit": 5, "offset": 5})).json()["hits"]
        assert [h["rank"] for h in crowd] == [6, 7, 8, 9, 10]


class TestModelChange:
    async def test_backfill_finds_chunks_without_a_vector_in_the_current_space(self, db_conninfo):
        """After the default model changes, versions whose chunks were embedded only in the
        old model's space are queued again (and those already in the new space are not)."""
        from psycopg.rows import dict_row

        from mimir.db.queries import queries

        async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True,
                                                         row_factory=dict_row) as conn:
            spaces = [
                (await (await conn.execute(
                    "INSERT INTO embedding_spaces (name, model, dimensions) VALUES (%s, 'm', 3) "
                    "RETURNING id", (name,))).fetchone())["id"] for name in ("old", "new")]
            artifact = (await (await conn.execute(
                "INSERT INTO artifacts (artifact_type) VALUES ('note') RETURNING id")).fetchone())["id"]
            version = (await (await conn.execute(
                "INSERT INTO artifact_versions (artifact_id, version_number, content, "
                "content_hash) VALUES (%s, 1, 'abc', encode(sha256('abc'), 'hex')) RETURNING id",
                (artifact,))).fetchone())["id"]
            span = (await (await conn.execute(
                "INSERT INTO spans (artifact_version_id, start_offset, end_offset, span_type) "
                "VALUES (%s, 0, 3, 'chunk') RETURNING id", (version,))).fetchone())["id"]
            await conn.execute("INSERT INTO embeddings (space_id, target_type, target_id, "
                               "embedding) VALUES (%s, 'span', %s, '[1,0,0]')", (spaces[0], span))

            async def due(space_id):
                return [r["id"] async for r in queries.embeddings_list_versions_without_chunks(
                    conn, limit=10, space_id=space_id)]

            assert await due(spaces[1]) == [version]
            assert await due(spaces[0]) == []
            assert await due(None) == []  # it has chunks: only a space makes it due


class TestUnknownFields:
    @pytest.mark.parametrize("mode", ["text", "semantic", "hybrid"])
    async def test_a_field_no_mode_knows_is_refused(self, client, mode):
        """A misspelt option is a 422 naming it, never silently ignored (hybrid takes the
        text options, so `match` is known there)."""
        response = await client.post(f"/api/v1/search/{mode}",
                                     json={"query": "x", "matchh": "any"})
        assert response.status_code == 422, response.text
        assert "matchh" in response.text
