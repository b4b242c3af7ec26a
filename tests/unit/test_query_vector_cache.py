"""The per-process cache of query vectors, and the local provider's use of it."""

from __future__ import annotations

import pytest

from mimir.embeddings.providers import LocalProvider
from mimir.embeddings.query_cache import QueryVectorCache


def test_least_recently_used_goes_first():
    cache = QueryVectorCache(size=2)
    cache.put("a", [1.0])
    cache.put("b", [2.0])
    assert cache.get("a") == [1.0]  # "a" is now the most recently used
    cache.put("c", [3.0])
    assert cache.get("b") is None
    assert cache.get("a") == [1.0] and cache.get("c") == [3.0]
    assert len(cache) == 2


def test_callers_get_their_own_copy():
    cache = QueryVectorCache()
    vector = [0.5, 0.5]
    cache.put("q", vector)
    vector[0] = 9.0
    got = cache.get("q")
    got[1] = 7.0
    assert cache.get("q") == [0.5, 0.5]


def test_size_zero_keeps_nothing():
    cache = QueryVectorCache(size=0)
    cache.put("q", [1.0])
    assert cache.get("q") is None and len(cache) == 0


class _CountingProvider(LocalProvider):
    """The local provider with a stand-in model that counts its calls."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls: list[list[str]] = []

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]


@pytest.mark.parametrize("size, calls", [(512, 2), (0, 3)])
async def test_a_repeated_question_skips_the_model(size, calls):
    provider = _CountingProvider(query_cache_size=size)
    first = await provider.embed_query("when do we ship?")
    again = await provider.embed_query("when do we ship?")
    other = await provider.embed_query("who ships?")
    assert first == again and other != first
    assert len(provider.calls) == calls
    # Passages are never served from the query cache (no "query: " prefix there).
    await provider.embed_passages(["when do we ship?"])
    assert provider.calls[-1] == ["when do we ship?"]
