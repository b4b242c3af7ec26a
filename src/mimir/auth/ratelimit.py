"""A token bucket per caller (a verified API key, else the client address), in this process.

Each caller may make `per_minute` requests a minute with bursts up to that size; over it
the answer is 429 with Retry-After. Buckets live in memory: with several server processes
each enforces its own share.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

MAX_CALLERS = 10_000  # least recently seen callers are forgotten beyond this


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        tokens, seen = self._buckets.pop(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - seen) * self.rate)
        if tokens >= 1:
            self._buckets[caller] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[caller] = (tokens, now)
            wait = (1 - tokens) / self.rate
        while len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        return wait


    def available(self, caller: str, now: float | None = None) -> float:
        """As `take` without taking: 0 when a request would go ahead."""
        now = time.monotonic() if now is None else now
        tokens, seen = self._buckets.get(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - seen) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
