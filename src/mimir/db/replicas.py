"""Read replicas: which streaming replica may serve a read now, and how stale it may be.

What "lag" means here: a replica's *staleness* is the time since the latest moment at which
it was known to hold every commit the primary had acknowledged. Every `CHECK_INTERVAL_S`
a monitor samples the primary's WAL write position (time taken before the query: every
commit acknowledged before that time ends at or before the position) and each replica's
replay position; a replica that has replayed up to a sample's position holds everything
acknowledged before the sample's time. Staleness is then `now - that time`.

Why not `now() - pg_last_xact_replay_timestamp()`: while the primary is idle that grows
without bound although the replica misses nothing, and right after a quiet hour a replica
a few milliseconds behind would look an hour behind. Comparing positions tells idle (replay
position equal to the primary's, so staleness stays about one check interval) from behind
(staleness grows from the last sample the replica reached). The replay timestamp is kept
for the logs only.

A replica is skipped when its staleness exceeds MIMIR_REPLICA_MAX_LAG_S, when its last
check failed or its pool cannot connect, when it is not in recovery (promoted, or not a
standby), and when the primary cannot be sampled for longer than the bound (nothing can
then prove the replica current). Skipped means the primary serves the read.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from mimir.config import Settings
from mimir.db.connection import describe, location, resolve_replica_conninfos
from mimir.db.pool import MimirPool, make_pool
from mimir.db.queries import queries
from mimir.logging import get_logger

log = get_logger("mimir.db.replicas")

CHECK_INTERVAL_S = 0.5
CHECK_TIMEOUT_S = 2.0
# Why a replica is skipped (its /health entry's `skipped_because`).
UNREACHABLE = "unreachable"
NOT_A_STANDBY = "not_a_standby"
BEHIND = "behind"
PRIMARY_UNSAMPLED = "primary_unsampled"
CONFLICTS = "conflicts"
# Replay cancelled this many of a replica's reads within the window (each retried on the
# primary): it is skipped for the pause, so reads stop paying for a read and a retry.
CONFLICT_BURST = 3
CONFLICT_WINDOW_S = 10.0
CONFLICT_PAUSE_S = 10.0
_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def format_lsn(lsn: int) -> str:
    """A WAL position as PostgreSQL prints a pg_lsn (`16/B374D48`)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int | None:
    """The WAL position of a pg_lsn text, None when it is not one."""
    match = _LSN.fullmatch(text.strip())
    if match is None:
        return None
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


class PrimaryClock:
    """Recent samples (monotonic time, WAL position) of the primary, oldest first."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self.samples: deque[tuple[float, int]] = deque()

    def record(self, at: float, lsn: int) -> None:
        self.samples.append((at, lsn))
        while self.samples and self.samples[0][0] < at - self.keep_s:
            self.samples.popleft()

    def latest(self) -> tuple[float, int] | None:
        """The newest sample (time, position), None before the first."""
        return self.samples[-1] if self.samples else None

    def caught_up_at(self, replayed: int) -> float | None:
        """The latest sample time whose position `replayed` has reached: a replica replayed
        that far holds every commit acknowledged before it. None when it reached none."""
        for at, lsn in reversed(self.samples):
            if lsn <= replayed:
                return at
        return None


@dataclass
class Replica:
    """One replica: its pool and what the monitor last learnt about it."""

    name: str  # user@host:port/database (for the logs), never the password
    conninfo: str
    pool: MimirPool
    location: str = ""  # host:port/database, for /health (no user, no password)
    replayed: int | None = None  # WAL position replayed, as last seen
    caught_up_at: float | None = None  # see PrimaryClock.caught_up_at
    healthy: bool = False  # the last check answered, from a server in recovery
    problem: str | None = None  # why not healthy: UNREACHABLE or NOT_A_STANDBY
    reads: int = 0  # requests of this process whose reads it served
    conflict_retries: int = 0  # reads replay cancelled here, run again on the primary
    conflicts_until: float = 0.0  # skipped until then: its conflicts came in a burst
    recent_conflicts: deque[float] = field(default_factory=deque, repr=False)
    monitor: psycopg.AsyncConnection | None = field(default=None, repr=False)

    def staleness(self, now: float) -> float:
        return float("inf") if self.caught_up_at is None else now - self.caught_up_at

    def usable(self, now: float, max_lag_s: float) -> bool:
        return (self.healthy and not self.pool.reachability.unreachable
                and self.staleness(now) <= max_lag_s and now >= self.conflicts_until)

    def note_conflict(self, now: float) -> bool:
        """A read replay cancelled here was retried on the primary. True when that makes
        CONFLICT_BURST within CONFLICT_WINDOW_S: then it is skipped for CONFLICT_PAUSE_S."""
        self.conflict_retries += 1
        self.recent_conflicts.append(now)
        while self.recent_conflicts and self.recent_conflicts[0] < now - CONFLICT_WINDOW_S:
            self.recent_conflicts.popleft()
        if len(self.recent_conflicts) < CONFLICT_BURST:
            return False
        self.recent_conflicts.clear()
        self.conflicts_until = now + CONFLICT_PAUSE_S
        return True

    def mark_unreachable(self) -> None:
        """Skipped until the monitor's next check answers."""
        self.healthy = False
        self.problem = UNREACHABLE

    def saw_replayed(self, lsn: int) -> None:
        """A newer replay position learnt outside the monitor (a read-your-writes check)."""
        if self.replayed is None or lsn > self.replayed:
            self.replayed = lsn


class ReplicaSet:
    """The replicas of a process and the monitor task that keeps their state current."""

    def __init__(self, primary_conninfo: str, replicas: list[Replica], max_lag_s: float) -> None:
        self.primary_conninfo = primary_conninfo
        self.replicas = replicas
        self.max_lag_s = max_lag_s
        self.clock = PrimaryClock(keep_s=max_lag_s + 4 * CHECK_INTERVAL_S)
        self._primary_monitor: psycopg.AsyncConnection | None = None
        self._task: asyncio.Task | None = None

    def usable(self, min_lsn: int | None = None, now: float | None = None) -> list[Replica]:
        """Replicas that may serve a read now, in random order (spreading the load); with
        `min_lsn`, those known (as of their last check) to have replayed past it first."""
        now = time.monotonic() if now is None else now
        found = [r for r in self.replicas if r.usable(now, self.max_lag_s)]
        random.shuffle(found)
        if min_lsn is not None:
            found.sort(key=lambda r: r.replayed is None or r.replayed < min_lsn)
        return found

    async def open(self) -> None:
        for replica in self.replicas:
            await replica.pool.open(wait=False)
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="mimir-replica-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for conn in [self._primary_monitor, *(r.monitor for r in self.replicas)]:
            if conn is not None:
                await conn.close()
        for replica in self.replicas:
            log.info("replica reads served", replica=replica.name, reads=replica.reads,
                     conflict_retries=replica.conflict_retries)
            await replica.pool.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)
            try:
                await self.refresh()
            except Exception as exc:  # never let the monitor die; the next round retries
                log.warning("replica check failed", error_type=type(exc).__name__)

    async def refresh(self) -> None:
        """One round: sample the primary, then check every replica (concurrently)."""
        started = time.monotonic()
        try:
            self._primary_monitor = await _fresh(self._primary_monitor, self.primary_conninfo)
            row = await asyncio.wait_for(
                queries.replicas_primary_position(self._primary_monitor), CHECK_TIMEOUT_S)
            self.clock.record(started, int(row["lsn"]))
        except (OSError, TimeoutError, psycopg.Error) as exc:
            self._primary_monitor = await _discard(self._primary_monitor)
            log.warning("cannot sample the primary's WAL position; replicas age",
                        error_type=type(exc).__name__)
        await asyncio.gather(*(self._check(replica) for replica in self.replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            replica.monitor = await _fresh(replica.monitor, replica.conninfo)
            row = await asyncio.wait_for(
                queries.replicas_replica_position(replica.monitor), CHECK_TIMEOUT_S)
        except (OSError, TimeoutError, psycopg.Error) as exc:
            replica.monitor = await _discard(replica.monitor)
            if replica.healthy:
                log.warning("replica unreachable; skipped", replica=replica.name,
                            error_type=type(exc).__name__)
            replica.mark_unreachable()
            return
        if not row["in_recovery"] or row["lsn"] is None:
            if replica.healthy or replica.replayed is None:
                log.warning("replica is not a standby; skipped", replica=replica.name)
            replica.healthy = False
            replica.problem = NOT_A_STANDBY
            return
        replica.saw_replayed(int(row["lsn"]))
        caught_up = self.clock.caught_up_at(replica.replayed)
        if caught_up is not None and (replica.caught_up_at is None
                                      or caught_up > replica.caught_up_at):
            replica.caught_up_at = caught_up
        replica.healthy = True
        replica.problem = None


async def _fresh(conn: psycopg.AsyncConnection | None, conninfo: str) -> psycopg.AsyncConnection:
    """The monitor's own connection (not a pooled one: a busy pool must not delay checks)."""
    if conn is not None and not conn.closed:
        return conn
    return await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, row_factory=dict_row, connect_timeout=int(CHECK_TIMEOUT_S))


async def _discard(conn: psycopg.AsyncConnection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.close()


def make_replica_set(primary_conninfo: str, settings: Settings,
                     pooled: Callable[[str, Settings], str]) -> ReplicaSet | None:
    """The configured replicas (None without MIMIR_DATABASE_REPLICA_URLS), each with a
    closed pool built like the primary's (app role, namespace per checkout) on the
    conninfo `pooled` makes (the session limits)."""
    conninfos = resolve_replica_conninfos(settings)
    if not conninfos:
        return None
    replicas = [Replica(name=describe(conninfo), conninfo=conninfo, location=location(conninfo),
                        pool=make_pool(pooled(conninfo, settings), settings, name="mimir-replica"))
                for conninfo in conninfos]
    return ReplicaSet(primary_conninfo, replicas, settings.replica_max_lag_s)
