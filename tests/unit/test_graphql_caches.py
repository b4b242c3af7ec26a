"""Row 7 of issue 18: parse and validation caches are bounded by bytes, not only entries."""

from __future__ import annotations

import pytest

from mimir.config import Settings
from mimir.graphql.caches import CACHEABLE_CHARS, ByteLRU
from mimir.graphql.schema import build_schema


def test_byte_lru_evicts_by_weight_and_refuses_heavy_entries():
    cache = ByteLRU(max_entries=100, max_bytes=1000, max_entry=400)
    for i in range(10):
        assert cache.put(i, str(i), 300)
        assert cache.bytes <= 1000
    assert len(cache) == 3 and cache.get(9) == "9" and cache.get(0) is None
    assert not cache.put("big", "x", 401) and cache.get("big") is None
    cache.put(9, "again", 100)  # replacing an entry re-weighs it
    assert cache.bytes == 700 and cache.get(9) == "again"


def test_byte_lru_also_bounds_entries():
    cache = ByteLRU(max_entries=2, max_bytes=10**9)
    for i in range(5):
        cache.put(i, i, 1)
    assert len(cache) == 2 and cache.bytes == 2


@pytest.mark.asyncio
async def test_large_documents_do_not_stay_in_the_schema_caches(tmp_path):
    """Distinct multi-megabyte documents (one comment each) used to stay in the parser
    cache (40 of 5 MB: +400 MB)."""
    schema = build_schema(Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path)))
    caches = schema.caches
    for i in range(8):
        result = await schema.execute(f"# {i} " + "x" * 1_000_000 + "\n{ __typename }")
        assert result.errors is None and result.data == {"__typename": "Query"}
    assert len(caches.documents) == 0 and len(caches.validations) == 0
    # Documents just under the cacheable size are kept, up to the byte budget.
    for i in range(40):
        await schema.execute(f"# {i} " + "x" * (CACHEABLE_CHARS - 100) + "\n{ __typename }")
    assert 0 < len(caches.documents) < 40
    assert caches.documents.bytes <= caches.documents.max_bytes
    assert caches.validations.bytes <= caches.validations.max_bytes
    # Small repeated documents hit the cache.
    for _ in range(3):
        await schema.execute("{ __typename }")
    assert caches.documents.get("{ __typename }") is not None
