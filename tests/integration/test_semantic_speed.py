"""What keeps semantic and hybrid search fast: hybrid looks exactly `candidates` deep into
the semantic list (not the standalone semantic search's 4x headroom) and finds the same
nearest hits; a search's statements are planned for their actual filter values."""

from __future__ import annotations

import random

import psycopg
import pytest
from psycopg.rows import dict_row

import mimir.search.semantic as semantic_module
from mimir.db.queries import queries


@pytest.fixture
async def intents_with_vectors(client, app):
    """Thirty intents, each with a random vector in the default (local model's) space."""
    space = app.state.embedding_space
    rng = random.Random(7)
    ids = [(await client.post("/api/v1/intents", json={"statement": f"plan number {i}"})
            ).json()["id"] for i in range(30)]
    written = await client.post("/api/v1/embeddings", json={"space": space, "vectors": [
        {"target_type": "intent", "target_id": i,
         "vector": [rng.gauss(0, 1) for _ in range(384)]} for i in ids]})
    assert written.json() == {"written": 30}
    return ids


async def test_hybrid_fetches_its_candidates_from_the_index(client, intents_with_vectors,
                                                            monkeypatch):
    """The semantic leg of hybrid asks the index for `candidates` vectors, and its best hits
    are the semantic search's, in the same order."""
    depths = []
    original = semantic_module.nearest

    async def spy(conn, space, vector, scope, candidates, ef_search=None):
        depths.append(candidates)
        return await original(conn, space, vector, scope, candidates, ef_search)

    monkeypatch.setattr(semantic_module, "nearest", spy)
    query = {"query": "what is the plan for the importer?", "entity_types": ["intent"],
             "limit": 4}
    semantic = (await client.post("/api/v1/search/semantic", json=query)).json()["hits"]
    assert depths == [100]  # a client's semantic search keeps its headroom
    hybrid = (await client.post("/api/v1/search/hybrid", json={
        **query, "candidates": 12, "text_weight": 0})).json()["hits"]
    assert depths[1:] == [12]
    assert [h["entity_id"] for h in hybrid] == [h["entity_id"] for h in semantic]
    assert [h["semantic"]["rank"] for h in hybrid] == [1, 2, 3, 4]
    assert {h["entity_id"] for h in hybrid} <= set(intents_with_vectors)


async def test_search_options_plan_for_the_actual_filters(db_conninfo):
    """Inside a semantic search's transaction, statements get custom plans (so a prepared
    scope count with `sources` can use the source index), and only there."""
    async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        async with conn.transaction():
            await queries.semantic_set_search_options(conn, ef_search=64)
            inside = await (await conn.execute(
                "SELECT current_setting('plan_cache_mode') AS mode, "
                "current_setting('hnsw.ef_search') AS ef")).fetchone()
        after = await (await conn.execute(
            "SELECT current_setting('plan_cache_mode') AS mode")).fetchone()
    assert inside == {"mode": "force_custom_plan", "ef": "64"}
    assert after["mode"] == "auto"
