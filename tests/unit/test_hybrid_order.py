"""In what order a hybrid search embeds the question and runs its two lists: a local model
embeds first (its threads would fight the database for the cores), a remote model's wait
overlaps the text list, and with a spare connection the two lists run side by side."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mimir.search import hybrid
from mimir.search.hybrid import HybridQuery, hybrid_search


class Provider:
    model, dimensions, distance = "fake", 3, "cosine"

    def __init__(self, name: str, log: list[str], gate: asyncio.Event | None = None) -> None:
        self.name, self.log, self.gate = name, log, gate

    async def embed_query(self, text: str) -> list[float]:
        self.log.append("embed started")
        if self.gate is not None:
            await self.gate.wait()  # a remote model answering only once the text list ran
        self.log.append("embed done")
        return [1.0, 0.0, 0.0]


def _hit(entity: str, score: float) -> dict[str, Any]:
    return {"entity_type": "artifact_version", "entity_id": entity, "score": score, "rank": 1,
            "text": None}


@pytest.fixture
def lists(monkeypatch):
    """The two lists and the decoration replaced by recorders (no database)."""
    log: list[str] = []
    gate = asyncio.Event()
    started: dict[str, asyncio.Event] = {"text": asyncio.Event(), "semantic": asyncio.Event()}

    async def rank_text(conn, request, **_):
        log.append(f"text on {conn}")
        started["text"].set()
        gate.set()
        await asyncio.sleep(0)
        if request.query == "fail text":
            raise LookupError("text list failed")
        return {"hits": [_hit("a", 2.0)], "language": "english", "match": "any",
                "_lexemes": []}

    async def semantic_search(conn, request, provider, space, candidates=None):
        log.append(f"semantic on {conn} with {'vector' if request.vector else 'query'}")
        started["semantic"].set()
        if request.query == "wait for text":  # side by side: the text list starts too
            await asyncio.wait_for(started["text"].wait(), 5)
        return {"hits": [_hit("b", 0.9)], "space": "s"}

    async def nothing(*_, **__):
        return None

    monkeypatch.setattr(hybrid, "rank_text", rank_text)
    monkeypatch.setattr(hybrid, "semantic_search", semantic_search)
    monkeypatch.setattr(hybrid, "decorate", nothing)
    monkeypatch.setattr(hybrid, "attach_spans", nothing)
    return log, gate


def spare_giving(value):
    @asynccontextmanager
    async def spare():
        yield value
    return spare


async def test_a_local_model_embeds_before_either_list_runs(lists):
    log, _ = lists
    body = await hybrid_search("main", HybridQuery(query="q"), Provider("local", log), "s",
                               default_language="english")
    assert log == ["embed started", "embed done", "text on main", "semantic on main with vector"]
    assert {h["entity_id"] for h in body["hits"]} == {"a", "b"}


async def test_a_remote_model_is_awaited_while_the_text_list_runs(lists):
    """The fake remote model answers only after the text list started: awaiting it first
    would never finish."""
    log, gate = lists
    await asyncio.wait_for(hybrid_search(
        "main", HybridQuery(query="q"), Provider("openai", log, gate), "s",
        default_language="english"), 5)
    assert log.index("text on main") < log.index("embed done")
    assert log[-1] == "semantic on main with vector"


async def test_with_a_spare_connection_the_lists_run_side_by_side(lists):
    log, _ = lists
    await asyncio.wait_for(hybrid_search(
        "main", HybridQuery(query="wait for text"), Provider("local", log), "s",
        default_language="english", spare=spare_giving("spare")), 5)
    assert log[:2] == ["embed started", "embed done"]
    assert set(log[2:]) == {"text on main", "semantic on spare with vector"}


async def test_without_a_spare_connection_the_lists_run_one_after_the_other(lists):
    log, _ = lists
    await hybrid_search("main", HybridQuery(query="q"), Provider("local", log), "s",
                        default_language="english", spare=spare_giving(None))
    assert log[2:] == ["text on main", "semantic on main with vector"]


async def test_a_failing_list_raises_its_own_error_not_a_group(lists):
    log, _ = lists
    with pytest.raises(LookupError, match="text list failed"):
        await hybrid_search("main", HybridQuery(query="fail text"), Provider("local", log), "s",
                            default_language="english", spare=spare_giving("spare"))
