"""A read that the real standby's replay cancels (a recovery conflict) is run again on the
primary: the client never sees the error.

The standby runs with `max_standby_streaming_delay = 0`, so replay cancels at once any
query standing in its way. The primary takes ACCESS EXCLUSIVE locks on `artifacts` in a
loop (each logged for the standby as it is taken) while clients without a write position
list artifacts and query them through GraphQL from the replica; every replayed lock cancels
the standby reads holding the table at that moment. The loop stops once the standby counts
a lock conflict (pg_stat_database_conflicts), within a bounded time; no client may have
seen an error, and the app must have counted retries.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from tests.integration import test_read_replicas as replicas_module
from tests.integration.test_read_replicas import DBNAME, create, http
from tests.streaming_replica import StreamingPair, missing_reason

pair = replicas_module.pair  # the fixtures: a primary and its standby, an app on them
make_app = replicas_module.make_app

pytestmark = pytest.mark.skipif(missing_reason() is not None,
                                reason=missing_reason() or "")

LIST_QUERY = "{ artifacts(first: 100) { edges { node { id title } } } }"
READERS = 6
BOUND_S = 60.0


def standby_conflicts(pair: StreamingPair) -> int:
    with psycopg.connect(pair.standby.conninfo(DBNAME), autocommit=True) as conn:
        row = conn.execute("SELECT confl_lock + confl_snapshot + confl_bufferpin"
                           " + confl_deadlock FROM pg_stat_database_conflicts"
                           " WHERE datname = current_database()").fetchone()
    return int(row[0])


async def lock_in_a_loop(pair: StreamingPair, stop: asyncio.Event) -> int:
    """ACCESS EXCLUSIVE on artifacts, over and over, until `stop`; the number taken."""
    taken = 0
    async with await psycopg.AsyncConnection.connect(pair.primary.conninfo(DBNAME),
                                                     autocommit=True) as conn:
        while not stop.is_set():
            async with conn.transaction():
                await conn.execute("LOCK TABLE artifacts IN ACCESS EXCLUSIVE MODE")
            taken += 1
            await asyncio.sleep(0.005)
    return taken


class TestRecoveryConflicts:
    async def test_cancelled_replica_reads_are_answered_from_the_primary(self, make_app,
                                                                          pair):
        pair.on_standby("ALTER SYSTEM SET max_standby_streaming_delay = 0")
        pair.on_standby("SELECT pg_reload_conf()")
        try:
            async with make_app(max_lag_s=30.0) as app:
                await self._run(app, pair)
        finally:
            pair.on_standby("ALTER SYSTEM RESET max_standby_streaming_delay")
            pair.on_standby("SELECT pg_reload_conf()")

    async def _run(self, app, pair: StreamingPair) -> None:
        async with http(app, ("10.3.0.1", 4000)) as writer:
            for n in range(120):
                await create(writer, f"conflict-{n} " + "words " * 40)
        await asyncio.to_thread(pair.wait_replayed)
        replica = app.state.pool.replicas.replicas[0]
        conflicts_before = standby_conflicts(pair)
        stop = asyncio.Event()
        failures: list[str] = []
        answered = 0

        async def reader(n: int) -> None:
            nonlocal answered
            async with http(app, (f"10.3.1.{n + 1}", 4000)) as client:
                while not stop.is_set():
                    if n % 2:
                        response = await client.post("/graphql", json={"query": LIST_QUERY})
                        ok = response.status_code == 200 and not response.json().get("errors")
                    else:
                        response = await client.get("/api/v1/artifacts?limit=100")
                        ok = response.status_code == 200
                    answered += 1
                    if not ok:
                        failures.append(f"{response.status_code} {response.text[:200]}")

        async def until_conflicted() -> None:
            deadline = time.monotonic() + BOUND_S
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                if await asyncio.to_thread(standby_conflicts, pair) > conflicts_before:
                    await asyncio.sleep(1.0)  # a few more, to be sure some hit a request
                    break
            stop.set()

        results = await asyncio.gather(lock_in_a_loop(pair, stop), until_conflicted(),
                                       *(reader(n) for n in range(READERS)))
        assert results[0] > 0
        assert standby_conflicts(pair) > conflicts_before, "replay cancelled no standby read"
        assert failures == [], failures[:5]
        assert replica.conflict_retries >= 1
        assert answered > replica.conflict_retries
        health = (await http(app, ("10.3.2.1", 4000)).get("/health")).json()
        assert health["replicas"][0]["conflict_retries"] == replica.conflict_retries
