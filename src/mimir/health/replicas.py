"""The read replicas in /health: what this process's replica monitor last learnt.

Nothing is queried here: the monitor (mimir.db.replicas) checks every replica twice a
second, so /health reads its state from memory and costs the replicas nothing. A replica
that is behind or gone never makes the service unhealthy (reads fall back to the primary);
its entry says so.

Everyone sees whether each replica is reachable, usable and why not, and its lag; its
location (`host:port/dbname`, never a user or password) and the requests of this process
it has served only with the details (admin keys, or a server without keys).
"""

from __future__ import annotations

import math
import time
from typing import Any

from mimir.db.replicas import (
    BEHIND,
    CONFLICTS,
    NOT_A_STANDBY,
    PRIMARY_UNSAMPLED,
    UNREACHABLE,
    Replica,
    ReplicaSet,
)


def replicas_report(replicas: ReplicaSet | None, *, details: bool,
                    now: float | None = None) -> list[dict[str, Any]] | None:
    """One entry per configured replica, in configuration order; None without replicas."""
    if replicas is None or not replicas.replicas:
        return None
    now = time.monotonic() if now is None else now
    newest = replicas.clock.latest()
    entries = []
    for replica in replicas.replicas:
        entry = _entry(replica, now, replicas.max_lag_s, newest)
        if details:
            entry = {"location": replica.location, **entry, "reads_served": replica.reads,
                     "conflict_retries": replica.conflict_retries}
        entries.append(entry)
    return entries


def _entry(replica: Replica, now: float, max_lag_s: float,
           newest: tuple[float, int] | None) -> dict[str, Any]:
    staleness = replica.staleness(now)
    lag_bytes = None
    if newest is not None and replica.replayed is not None:
        lag_bytes = max(0, newest[1] - replica.replayed)
    # Its last check answered (a server not in recovery answers too), and its pool connects.
    reachable = ((replica.healthy or replica.problem == NOT_A_STANDBY)
                 and not replica.pool.reachability.unreachable)
    usable = replica.usable(now, max_lag_s)
    return {
        "reachable": reachable,
        "usable": usable,
        "skipped_because": None if usable else _reason(replica, reachable, now, max_lag_s,
                                                       newest),
        "lag_s": round(staleness, 3) if math.isfinite(staleness) else None,
        "lag_bytes": lag_bytes,
        "max_lag_s": max_lag_s,
    }


def _reason(replica: Replica, reachable: bool, now: float, max_lag_s: float,
            newest: tuple[float, int] | None) -> str:
    if not reachable:
        return UNREACHABLE
    if replica.problem == NOT_A_STANDBY:
        return NOT_A_STANDBY
    if now < replica.conflicts_until:
        return CONFLICTS  # replay cancelled several of its reads in a short while
    if newest is None or now - newest[0] > max_lag_s:
        return PRIMARY_UNSAMPLED  # nothing can prove the replica current
    return BEHIND
