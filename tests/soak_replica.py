"""A streaming standby for the soak (scripts/soak.py --replica): the primary and standby of
tests/streaming_replica.py, replication delay on demand (recovery_min_apply_delay, or
replay paused part of the time), and afterwards what the standby served, which of its
queries replay cancelled (pg_stat_database_conflicts) and whether it holds every
acknowledged write.

The standby runs with hot_standby_feedback = on (as a replica that serves reads should):
without it, the primary's vacuum and page pruning remove row versions the standby's
queries still see, and replaying that cancels those queries ("conflict with recovery": a
409 or 503 to the client, retryable, never stale data). A delayed standby under steady
writes cancels them almost at once, since max_standby_streaming_delay is counted from the
last time replay caught up with the WAL received. `feedback=False` shows that.

Reads served: each API process counts the requests a replica served and logs the count
when it stops ("replica reads served"); the soak sums those lines of the server log. A
killed process logs nothing, so the sum is a lower bound. As a cross-check, the standby's
`pg_stat_database.xact_commit` for the database during the load (a replica read runs a few
transactions there: its checkouts, its queries), less the replica monitors' rate measured
while the servers idle before the load. Backends report their counts at most once a
second, idle ones within 10 s, hence the wait before counting.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.soak_load import WRITES, SoakResult, lost_writes
from tests.streaming_replica import StreamingPair

DBNAME = "mimir"
COMMITS = "SELECT xact_commit FROM pg_stat_database WHERE datname = %s"
CONFLICTS = ("SELECT confl_snapshot, confl_lock, confl_bufferpin, confl_deadlock "
             "FROM pg_stat_database_conflicts WHERE datname = %s")
STATS_FLUSH_S = 11.0  # PostgreSQL's idle backends flush their counts within 10 s


class SoakReplica:
    """`start()` (a migrated primary and its standby), then the URLs for the servers."""

    def __init__(self, delay_ms: int = 0, pause_s: float = 0.0, feedback: bool = True) -> None:
        self.pair = StreamingPair()
        self.feedback = feedback
        self.delay_ms = delay_ms
        self.pause_s = pause_s
        self.pauses = 0
        self._idle: tuple[float, int] | None = None  # (monitor commits per second, at start)
        self._started: float = 0.0

    def start(self) -> SoakReplica:
        self.pair.start(DBNAME)
        self.pair.on_standby(
            f"ALTER SYSTEM SET hot_standby_feedback = {'on' if self.feedback else 'off'}")
        if self.delay_ms:
            self.pair.on_standby(
                f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(self.delay_ms)}ms'")
        self.pair.on_standby("SELECT pg_reload_conf()")
        return self

    @property
    def primary_url(self) -> str:
        return self.pair.primary.url(DBNAME)

    @property
    def standby_url(self) -> str:
        return self.pair.standby.url(DBNAME)

    def _commits(self) -> int:
        with psycopg.connect(self.pair.standby.conninfo(), autocommit=True) as conn:
            return int(conn.execute(COMMITS, (DBNAME,)).fetchone()[0])

    def _conflicts(self) -> dict[str, int]:
        with psycopg.connect(self.pair.standby.conninfo(), autocommit=True) as conn:
            cursor = conn.execute(CONFLICTS, (DBNAME,))
            row = cursor.fetchone()
            names = [column.name.removeprefix("confl_") for column in cursor.description]
        return {name: int(n) for name, n in zip(names, row, strict=True) if n}

    def measure_idle(self, seconds: float = 5.0) -> None:
        """The standby's commit rate with the servers up and no load (their monitors);
        the load starts right after."""
        before, started = self._commits(), time.monotonic()
        time.sleep(seconds)
        after = self._commits()
        self._started = time.monotonic()
        self._idle = ((after - before) / (time.monotonic() - started), after)

    def during(self):
        """The side task that pauses replay for `pause_s` out of every 2 x `pause_s`, or
        None without --replica-pause."""
        if not self.pause_s:
            return None

        async def cycle(result: SoakResult) -> None:
            deadline = time.monotonic() + result.duration_s
            while time.monotonic() + self.pause_s < deadline:
                await asyncio.sleep(self.pause_s)
                await asyncio.to_thread(self.pair.on_standby, "SELECT pg_wal_replay_pause()")
                self.pauses += 1
                try:
                    await asyncio.sleep(self.pause_s)
                finally:
                    await asyncio.to_thread(self.pair.on_standby,
                                            "SELECT pg_wal_replay_resume()")
            print(f"replay paused {self.pauses} times for {self.pause_s:g} s", file=sys.stderr)

        return cycle

    async def report(self, result: SoakResult) -> None:
        """The standby's transactions during the load, then (once it has replayed
        everything) which acknowledged writes it lacks: into `result.replica`."""
        facts: dict[str, Any] = {"delay_ms": self.delay_ms, "pause_s": self.pause_s,
                                 "pauses": self.pauses, "hot_standby_feedback": self.feedback}
        if self.delay_ms:
            self.pair.on_standby("ALTER SYSTEM RESET recovery_min_apply_delay")
            self.pair.on_standby("SELECT pg_reload_conf()")
        if self._idle is not None:
            rate, at_start = self._idle
            await asyncio.sleep(STATS_FLUSH_S)
            commits = await asyncio.to_thread(self._commits)
            facts["standby_transactions"] = round(
                commits - at_start - rate * (time.monotonic() - self._started))
            facts["monitor_transactions_per_s"] = round(rate, 2)
            facts["queries_cancelled_by_replay"] = await asyncio.to_thread(self._conflicts)
        await asyncio.to_thread(self.pair.wait_replayed, 120.0)
        facts["lost_on_standby"] = await lost_writes(
            result.acked, self.pair.standby.conninfo(DBNAME))
        result.replica = facts

    @staticmethod
    def reads_logged(result: SoakResult, log_path: Path) -> None:
        """Add the replica reads the stopped API processes logged to `result.replica`."""
        reads = processes = retries = 0
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and "replica reads served" in (
                    entry.get("message"), entry.get("event")):
                reads += int(entry.get("reads", 0))
                retries += int(entry.get("conflict_retries", 0))
                processes += 1
        if result.replica is not None:
            read_requests = sum(len(times) for op, times in result.latencies_ms.items()
                                if op not in WRITES)
            result.replica.update(reads_served_logged=reads, processes_logging=processes,
                                  conflict_retries_logged=retries,
                                  read_requests_answered=read_requests)

    def stop(self) -> None:
        self.pair.stop()
