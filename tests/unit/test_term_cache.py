"""The per-process cache of common terms' document frequencies (search/text.py): rare
terms are never kept, common ones for TTL_S seconds, and the cache is bounded."""

from __future__ import annotations

from mimir.search.text import _CommonTermCache


def test_rare_terms_are_never_cached_common_ones_expire():
    cache = _CommonTermCache()
    cache.put("rare", cache.COMMON_DF - 1, now=0.0)
    cache.put("common", cache.COMMON_DF, now=0.0)
    assert cache.get("rare", now=1.0) is None
    assert cache.get("common", now=cache.TTL_S) == cache.COMMON_DF
    assert cache.get("common", now=cache.TTL_S + 0.1) is None


def test_the_least_recently_used_term_goes_first():
    cache = _CommonTermCache()
    cache.MAX_TERMS = 2
    for term in ("a", "b"):
        cache.put(term, 5000, now=0.0)
    assert cache.get("a", now=1.0) == 5000  # "a" is now the most recent
    cache.put("c", 5000, now=1.0)
    assert cache.get("b", now=1.0) is None
    assert cache.get("a", now=1.0) == 5000 and cache.get("c", now=1.0) == 5000
