"""Semantic and hybrid search end to end: artifacts written over REST are chunked and
embedded by the real local model in the background queue, then found by meaning."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import httpx
import psycopg
import pytest

from mimir.app import create_app
from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase

DOCS = {
    "cooking": "To bake sourdough bread, feed the starter the night before, mix flour and "
               "water, let the dough rise slowly and bake it in a very hot oven.",
    "database": "PostgreSQL replication streams the write-ahead log to standby servers so "
                "that a replica can take over when the primary database fails.",
    "garden": "Tomato seedlings need plenty of sun, regular watering and a stake to climb "
              "once the plants grow taller in early summer.",
}


async def _drain(http: httpx.AsyncClient, within_s: float = 120) -> None:
    for _ in range(int(within_s * 4)):
        stats = (await http.get("/api/v1/jobs")).json()
        if stats["by_status"]["todo"] + stats["by_status"]["doing"] == 0:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"queue did not drain: {stats}")


@pytest.fixture
async def indexed(db_conninfo, tmp_path):
    """An app with the in-process worker and the default local model, three documents, an
    intent and a decision, all indexed."""
    settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path), MIMIR_WORKER="inprocess")
    app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as http:
        ids = {}
        for name, content in DOCS.items():
            body = (await http.post("/api/v1/artifacts", json={
                "kind": "document", "title": name, "content": content})).json()
            ids[name] = body["id"]
        await http.post("/api/v1/intents", json={"statement": "Keep a standby database ready "
                                                 "for failover"})
        await http.post("/api/v1/decisions", json={"statement": "We water the vegetables every "
                                                   "morning"})
        await _drain(http)
        yield http, ids, app


class TestIndexing:
    async def test_chunks_are_spans_with_embeddings_and_provenance(self, indexed, db_conninfo):
        """Each version becomes chunk spans whose text is exact, each embedded once in the
        provider's space, with provenance naming the model and the chunker."""
        http, ids, app = indexed
        space = app.state.embedding_space
        assert space
        with psycopg.connect(db_conninfo) as conn:
            rows = conn.execute(
                "SELECT s.id, s.start_offset, s.end_offset, v.content, p.model_id, p.pipeline_version,"
                "       (SELECT count(*) FROM embeddings e"
                "         WHERE e.target_id = s.id AND e.namespace = 'default') AS vectors"
                "  FROM spans s JOIN artifact_versions v ON v.id = s.artifact_version_id"
                "   AND v.namespace = s.namespace"
                "  JOIN provenance p ON p.target_type = 'span' AND p.target_id = s.id"
                "   AND p.namespace = s.namespace"
                " WHERE s.span_type = 'chunk' AND s.namespace = 'default'").fetchall()
            statements = conn.execute(
                "SELECT target_type::text, count(*) FROM embeddings "
                "WHERE target_type IN ('intent', 'decision') GROUP BY 1 ORDER BY 1").fetchall()
        assert len(rows) == len(DOCS)  # short documents: one chunk each
        for _, start, end, content, model, pipeline, vectors in rows:
            assert content[start:end].strip() == content.strip()
            assert vectors == 1
            assert model == app.state.embedding_provider.model
            assert "semantic-text-splitter" in pipeline
        assert statements == [("decision", 1), ("intent", 1)]

    async def test_reindexing_is_idempotent(self, indexed, db_conninfo):
        """Running a version's job again makes no new chunks, vectors or provenance."""
        from mimir.embeddings import runtime
        from mimir.embeddings.tasks import index_version_job

        http, ids, _ = indexed
        version_id = (await http.get(f"/api/v1/artifacts/{ids['cooking']}")).json()["versions"][0]["id"]

        def counts():
            with psycopg.connect(db_conninfo) as conn:
                return conn.execute("SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM "
                                    "embeddings), (SELECT count(*) FROM provenance)").fetchone()

        before = counts()
        assert runtime.current() is not None
        await index_version_job(version_id=version_id)
        assert counts() == before


class TestSemantic:
    async def test_finds_by_meaning_with_the_matching_span(self, indexed):
        """A paraphrase with no shared keywords finds the right document first; the hit
        carries the chunk span and its exact text."""
        http, ids, _ = indexed
        body = (await http.post("/api/v1/search/semantic", json={
            "query": "how do I make a loaf at home?", "entity_types": ["artifact_version"]})).json()
        top = body["hits"][0]
        assert top["artifact_id"] == ids["cooking"]
        assert top["rank"] == 1 and 0 < top["score"] <= 1
        content = DOCS["cooking"]
        assert content[top["span"]["start_offset"]:top["span"]["end_offset"]] == top["text"]

    async def test_intents_and_decisions_are_searchable(self, indexed):
        """Intents and decisions are embedded and found by meaning too."""
        http, _, _ = indexed
        body = (await http.post("/api/v1/search/semantic", json={
            "query": "replica takes over if the main server dies",
            "entity_types": ["intent", "decision"]})).json()
        assert body["hits"][0]["entity_type"] == "intent"

    @pytest.mark.parametrize("payload, status", [
        ({"query": ""}, 422),
        ({"query": "x" * 1001}, 422),
        ({"query": "a", "vector": [0.1]}, 422),
        ({"vector": [0.1, 0.2]}, 422),
        ({"query": "a", "space": "no-such-space"}, 404),
        ({"query": "a", "entity_types": ["span"]}, 422),
    ])
    async def test_bad_input(self, indexed, payload, status):
        """Empty, over-long, both inputs, wrong dimension, unknown space, unknown type."""
        http, _, _ = indexed
        response = await http.post("/api/v1/search/semantic", json=payload)
        assert response.status_code == status, response.text
        if payload.get("vector") == [0.1, 0.2]:
            assert "384" in response.json()["error"]["message"]


class TestHybrid:
    async def test_each_hit_shows_both_lists(self, indexed):
        """Hybrid fuses the lists; a hit found by both shows its rank and score in each, and
        its RRF score is the sum of weight / (k + rank)."""
        http, ids, _ = indexed
        body = (await http.post("/api/v1/search/hybrid", json={
            "query": "database replication standby", "rrf_k": 10, "fusion": "rrf",
            "text_weight": 1, "semantic_weight": 1,
            "entity_types": ["artifact_version"]})).json()
        top = body["hits"][0]
        assert top["artifact_id"] == ids["database"]
        assert top["text"]["rank"] == 1 and top["semantic"]["rank"] == 1
        assert top["score"] == pytest.approx(1 / 11 + 1 / 11)
        assert top["matches"] and top["span"]
        assert body["fusion"] == "rrf"

    async def test_weighted_fusion_adds_normalised_scores(self, indexed):
        """The default fusion: each hit's score is the weighted sum of its normalised scores
        in the two lists (weights rescaled to sum to 1), and hits are ordered by it."""
        http, ids, _ = indexed
        body = (await http.post("/api/v1/search/hybrid", json={
            "query": "database replication standby", "text_weight": 3, "semantic_weight": 1,
            "entity_types": ["artifact_version"]})).json()
        assert body["fusion"] == "weighted"
        hits = body["hits"]
        assert hits[0]["artifact_id"] == ids["database"]
        for hit in hits:
            text = hit["text"]["normalized"] if hit["text"] else 0.0
            semantic = hit["semantic"]["normalized"] if hit["semantic"] else 0.0
            assert 0.0 <= text <= 1.0 and 0.0 <= semantic <= 1.0
            assert hit["score"] == pytest.approx(0.75 * text + 0.25 * semantic)
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        # The best hit of each list is normalised to 1.
        assert hits[0]["text"]["normalized"] == pytest.approx(1.0)

    async def test_hits_say_where_they_come_from(self, indexed):
        """All three modes give a version hit's source, external id, creation time and its
        passage (span with exact offsets into the version's content)."""
        http, ids, _ = indexed
        query = {"query": "database replication standby", "entity_types": ["artifact_version"]}
        for mode in ("text", "semantic", "hybrid"):
            hits = (await http.post(f"/api/v1/search/{mode}", json=query)).json()["hits"]
            top = next(h for h in hits if h["artifact_id"] == ids["database"])
            assert top["source"] and top["created_at"], mode
            assert "external_id" in top, mode
            span = top["span"]
            assert span is not None and span["span_type"] == "chunk", mode
            version = (await http.get(f"/api/v1/artifacts/{ids['database']}/versions/1")).json()
            assert version["content"][span["start_offset"]:span["end_offset"]] == span["text"]

    async def test_the_two_lists_run_side_by_side_on_a_spare_connection(self, indexed,
                                                                         tmp_path):
        """With a connection idle in the pool, the semantic list runs on it beside the text
        list, and the answer is the one computed on a single connection."""
        from mimir.namespaces import context
        from mimir.search.hybrid import HybridQuery, hybrid_search

        _, _, app = indexed
        pool, provider = app.state.pool, app.state.embedding_provider
        space = app.state.embedding_space
        trace = tmp_path / "spare.trace"
        given = []

        @asynccontextmanager
        async def spare():
            async with pool.spare_connection() as other:
                given.append(other)
                with trace.open("w") as sink:  # what the spare connection sends (libpq trace)
                    other.pgconn.trace(sink.fileno())
                    try:
                        yield other
                    finally:
                        other.pgconn.untrace()

        request = HybridQuery(query="database replication standby")
        with context.use("default"):
            async with pool.connection() as conn:
                alone = await hybrid_search(conn, request, provider, space,
                                            default_language="english")
                assert pool.get_stats()["pool_available"] >= 1
                beside = await hybrid_search(conn, request, provider, space,
                                             default_language="english", spare=spare)
        [other] = given
        assert other is not None and other is not conn
        key = [(h["entity_id"], round(h["score"], 9)) for h in alone["hits"]]
        assert key and [(h["entity_id"], round(h["score"], 9)) for h in beside["hits"]] == key
        sent = trace.read_text(errors="replace")
        assert "FROM embeddings e" in sent  # the semantic list ran there
        assert "search_postings" not in sent  # and the text list did not

    async def test_a_failing_list_fails_the_search_with_its_own_error(self, indexed):
        """An unknown space fails the semantic list while the text list runs beside it:
        the client gets that 404, and the pool gets both connections back."""
        http, _, app = indexed
        response = await http.post("/api/v1/search/hybrid", json={
            "query": "database replication standby", "space": "no-such-space"})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        stats = app.state.pool.get_stats()
        assert stats["pool_available"] == stats["pool_size"]
        ok = await http.post("/api/v1/search/hybrid", json={"query": "database replication"})
        assert ok.status_code == 200 and ok.json()["hits"]

    async def test_no_spare_connection_when_the_pool_is_busy(self, indexed):
        """A pool with no idle connection gives no spare (the search runs its lists one
        after the other) rather than making the request wait."""
        from mimir.namespaces import context

        _, _, app = indexed
        pool = app.state.pool
        with context.use("default"):
            held = []
            try:
                while pool.get_stats()["pool_available"] > 0:
                    held.append(await pool.primary.getconn())
                async with pool.spare_connection() as other:
                    assert other is None
            finally:
                for conn in held:
                    await pool.primary.putconn(conn)
            async with pool.spare_connection() as other:
                assert other is not None
                assert (await (await other.execute("SELECT 1 AS one")).fetchone())["one"] == 1

    async def test_weights_change_the_order(self, indexed):
        """With the text list weighted to zero the order is the semantic order."""
        http, _, _ = indexed
        query = {"query": "vegetable garden sunshine", "entity_types": ["artifact_version"]}
        semantic = (await http.post("/api/v1/search/semantic", json=query)).json()["hits"]
        hybrid = (await http.post("/api/v1/search/hybrid", json={
            **query, "text_weight": 0})).json()["hits"]
        assert [h["entity_id"] for h in hybrid] == [h["entity_id"] for h in semantic]


class TestClientVectors:
    async def test_own_space_and_vectors(self, client):
        """With a space of your own you write vectors and search by vector; a vector of the
        wrong dimension is a 422 naming both dimensions."""
        space = await client.post("/api/v1/embeddings/spaces", json={
            "name": "mine", "model": "handmade", "dimensions": 3})
        assert space.status_code == 201
        again = await client.post("/api/v1/embeddings/spaces", json={
            "name": "mine", "model": "handmade", "dimensions": 3})
        assert again.status_code == 200
        clash = await client.post("/api/v1/embeddings/spaces", json={
            "name": "mine", "model": "other", "dimensions": 4})
        assert clash.status_code == 409
        intents = [(await client.post("/api/v1/intents", json={"statement": s})).json()["id"]
                   for s in ("north", "east")]
        written = await client.post("/api/v1/embeddings", json={"space": "mine", "vectors": [
            {"target_type": "intent", "target_id": intents[0], "vector": [1, 0, 0]},
            {"target_type": "intent", "target_id": intents[1], "vector": [0, 1, 0]}]})
        assert written.json() == {"written": 2}
        hits = (await client.post("/api/v1/search/semantic", json={
            "space": "mine", "vector": [0.1, 0.9, 0]})).json()["hits"]
        assert [h["entity_id"] for h in hits] == [intents[1], intents[0]]
        wrong = await client.post("/api/v1/embeddings", json={"space": "mine", "vectors": [
            {"target_type": "intent", "target_id": intents[0], "vector": [1, 0]}]})
        assert wrong.status_code == 422 and "expects 3" in wrong.json()["error"]["message"]


class TestProviderDown:
    async def test_text_search_works_semantic_is_503(self, db_conninfo, tmp_path):
        """With an unreachable embedding endpoint, full-text search still answers, semantic
        and hybrid answer 503 with a clear message, and writes still queue their jobs."""
        settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path), MIMIR_WORKER="off",
                            MIMIR_EMBEDDING_PROVIDER="openai",
                            MIMIR_EMBEDDING_BASE_URL="http://127.0.0.1:9/v1",
                            MIMIR_EMBEDDING_MODEL="text-embedding-3-small",
                            MIMIR_EMBEDDING_API_KEY="sk-test-not-a-real-key-123")
        app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as http:
            created = await http.post("/api/v1/artifacts", json={"kind": "note", "content": "offline notes"})
            assert created.status_code == 201
            text = await http.post("/api/v1/search/text", json={"query": "offline"})
            assert text.status_code == 200 and text.json()["hits"]
            semantic = await http.post("/api/v1/search/semantic", json={"query": "offline"})
            hybrid = await http.post("/api/v1/search/hybrid", json={"query": "offline"})
            jobs = (await http.get("/api/v1/jobs")).json()
        for response in (semantic, hybrid):
            assert response.status_code == 503, response.text
            assert "sk-test" not in response.text
        assert jobs["by_status"]["todo"] >= 1


class TestGraphQLSearch:
    async def test_search_query_returns_entities_and_spans(self, indexed):
        """GraphQL `search` returns hits with the entity (union) and the matching chunk."""
        http, ids, _ = indexed
        body = (await http.post("/graphql", json={"query": """{
            search(query: "bread dough oven", mode: HYBRID, entityTypes: [ARTIFACT_VERSION]) {
              rank textRank semanticRank
              entity { ... on ArtifactVersion { artifact { title } } }
              span { text startOffset } matches { text startOffset endOffset } } }"""})).json()
        top = body["data"]["search"][0]
        assert top["entity"]["artifact"]["title"] == "cooking"
        assert top["textRank"] == 1 and top["semanticRank"] == 1
        content = DOCS["cooking"]
        assert all(content[m["startOffset"]:m["endOffset"]] == m["text"] for m in top["matches"])
        assert top["span"]["text"] in content

    async def test_search_bad_input_has_a_code(self, indexed):
        """An empty query is an `invalid` error, not a 500."""
        http, _, _ = indexed
        body = (await http.post("/graphql", json={"query": '{ search(query: "") { rank } }'})).json()
        assert body["errors"][0]["extensions"]["code"] == "invalid"


@pytest.fixture
async def unindexed(db_conninfo, tmp_path):
    """An app with the default local model but no worker: the test indexes by hand."""
    settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path), MIMIR_WORKER="off")
    app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as http:
        yield http, app


@asynccontextmanager
async def _default_connection(app):
    """A pooled connection outside a request: in the namespace `default`."""
    from mimir.namespaces import context as namespace_context

    with namespace_context.use("default"):
        async with app.state.pool.connection() as conn:
            yield conn


async def _index(app, version_id: str) -> int:
    import uuid

    from mimir.embeddings.service import get_space, index_version
    from mimir.namespaces import context as namespace_context

    # Outside a request, as a job does: in the namespace the version was written in.
    with namespace_context.use("default"):
        async with app.state.pool.connection() as conn:
            space = await get_space(conn, app.state.embedding_space)
        return await index_version(app.state.pool, app.state.embedding_provider, space,
                                   uuid.UUID(version_id), min_chars=600, max_chars=1200)


class TestPassages:
    async def test_a_conversation_is_embedded_per_message(self, unindexed, db_conninfo):
        """A conversation's passages never cross its messages, and a semantic hit points to
        the message itself (span_type `message`, exact offsets), not a 1,200-char chunk."""
        http, app = unindexed
        messages = [("user", "Any tips for my sourdough starter? It smells odd."),
                    ("assistant", "Feed it flour and water twice a day and keep it warm."),
                    ("user", "Also, how do I set up PostgreSQL streaming replication?"),
                    ("assistant", "Configure a standby with pg_basebackup and primary_conninfo.")]
        content, offsets = "", []
        for role, text in messages:
            start = len(content) + len(role) + 2
            content += f"{role}: {text}\n\n"
            offsets.append((role, start, start + len(text)))
        artifact = (await http.post("/api/v1/artifacts", json={
            "kind": "conversation", "content": content})).json()
        version_id = artifact["versions"][0]["id"]
        message_ids = []
        for role, start, end in offsets:
            span = await http.post("/api/v1/spans", json={
                "version_id": version_id, "start_offset": start, "end_offset": end,
                "span_type": "message", "label": role})
            assert span.status_code == 201, span.text
            message_ids.append(span.json()["id"])
        assert await _index(app, version_id) == 4  # one passage per message
        with psycopg.connect(db_conninfo) as conn:
            chunks = conn.execute("SELECT start_offset, end_offset FROM spans WHERE artifact_version_id = "
                                  "%s AND span_type = 'chunk' ORDER BY 1", (version_id,)).fetchall()
        assert chunks == [(s, e) for _, s, e in offsets]
        hits = (await http.post("/api/v1/search/semantic", json={
            "query": "replicating a database to a standby server"})).json()["hits"]
        top = hits[0]["span"]
        assert top["span_type"] == "message" and top["id"] == message_ids[3]
        assert content[top["start_offset"]:top["end_offset"]] == messages[3][1]

    async def test_a_document_title_is_embedded_but_not_part_of_the_span(self, unindexed):
        """A document's title is embedded before its passage (two documents with the same
        text and different titles get different vectors); the span covers the text only.
        Notes get no prefix."""
        http, app = unindexed
        said = "We booked the flights and the hotel for the whole group."
        made = {}
        for kind, title in (("document", "Lisbon trip"), ("document", "Quarterly budget"),
                            ("note", "Lisbon trip")):
            made[(kind, title)] = (await http.post("/api/v1/artifacts", json={
                "kind": kind, "content": said, "title": title})).json()
            assert await _index(app, made[(kind, title)]["versions"][0]["id"]) == 1
        hits = (await http.post("/api/v1/search/semantic", json={
            "query": "Lisbon trip travel plans", "entity_types": ["artifact_version"],
            "artifact_kinds": ["document"]})).json()["hits"]
        assert [h["artifact_id"] for h in hits] == [made[("document", "Lisbon trip")]["id"],
                                                    made[("document", "Quarterly budget")]["id"]]
        assert hits[0]["score"] > hits[1]["score"]
        assert hits[0]["span"]["text"] == said
        # The note's vector is the bare text's, the document's is not.
        [bare] = await app.state.embedding_provider.embed_passages([said])
        stored = {}
        for key in (("note", "Lisbon trip"), ("document", "Lisbon trip")):
            async with _default_connection(app) as conn:
                row = await (await conn.execute(
                    "SELECT e.embedding::text AS v FROM embeddings e JOIN spans s ON "
                    "s.id = e.target_id AND s.namespace = e.namespace "
                    "WHERE s.artifact_version_id = %s AND s.namespace = 'default'",
                    (made[key]["versions"][0]["id"],))).fetchone()
            stored[key[0]] = [float(x) for x in row["v"].strip("[]").split(",")]
        assert stored["note"] == pytest.approx(bare, abs=1e-5)
        assert stored["document"] != pytest.approx(bare, abs=1e-3)
