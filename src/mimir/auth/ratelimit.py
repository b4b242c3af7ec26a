"""A token bucket per caller (a verified API key, else the client address).

Each caller may make `per_minute` requests a minute with bursts up to that size; over it
the answer is 429 with Retry-After. Two stores (MIMIR_RATE_LIMIT_STORE):

- `process` (`RateLimiter`): buckets in this process's memory; with N server processes a
  caller gets up to N times the budget.
- `postgres` (`SharedRateLimiter`): one bucket per caller in PostgreSQL (the UNLOGGED
  table of migration 0013), one `mimir_rate_limit_take` statement per request taken, so
  every process (on every machine) draws from the same budget. A refusal is remembered
  in the process until its Retry-After ends: a throttled caller is refused again without
  a write, and the address check before authentication reads only that memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any

from mimir.db.queries import queries

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


class SharedRateLimiter:
    """The bucket of each caller in PostgreSQL, shared by every process on the database."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._refused_until: OrderedDict[str, float] = OrderedDict()

    def available(self, caller: str, now: float | None = None) -> float:
        """0 unless this process saw the caller refused and the wait is not over yet."""
        now = time.monotonic() if now is None else now
        until = self._refused_until.get(caller)
        if until is None:
            return 0.0
        if until <= now:
            del self._refused_until[caller]
            return 0.0
        return until - now

    async def take(self, pool: Any, caller: str) -> float:
        """`take_on` a connection of `pool`."""
        wait = self.available(caller)
        if wait > 0:
            return wait
        async with pool.connection() as conn:
            return await self.take_on(conn, caller)

    async def take_on(self, conn: Any, caller: str) -> float:
        """Take a token from the shared bucket on `conn`: 0 when the request may go ahead,
        else the seconds to wait (remembered, so the caller's next requests cost no
        write)."""
        wait = self.available(caller)
        if wait > 0:
            return wait
        row = await queries.auth_rate_limit_take(conn, caller=caller, capacity=self.capacity,
                                                 per_second=self.rate)
        wait = row["wait"]
        if wait > 0:
            self._refused_until.pop(caller, None)
            self._refused_until[caller] = time.monotonic() + wait
            while len(self._refused_until) > MAX_CALLERS:
                self._refused_until.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
