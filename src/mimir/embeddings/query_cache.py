"""The vectors of the most recently embedded queries, per process.

Agents ask the same question again (a retry, a page past the first hits, the context
endpoint after a search): a repeated query then skips the model. The vector of a text
never changes for a loaded model, so entries need no expiry; the oldest-used ones go when
the cache is full.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_SIZE = 512  # 512 x 384 floats: well under 10 MB as Python lists


class QueryVectorCache:
    """A thread-safe least-recently-used map from query text to its vector."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> list[float] | None:
        with self._lock:
            vector = self._entries.get(text)
            if vector is None:
                return None
            self._entries.move_to_end(text)
        return list(vector)  # a fresh list: a caller may change its copy

    def put(self, text: str, vector: list[float]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[text] = tuple(vector)
            self._entries.move_to_end(text)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
