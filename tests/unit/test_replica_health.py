"""The replicas section of /health, from the replica monitor's state (no database)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mimir.db.replicas import NOT_A_STANDBY, Replica, ReplicaSet
from mimir.health.replicas import replicas_report


def _set(replayed: int | None, *, healthy: bool = True, problem: str | None = None,
         pool_unreachable: bool = False, samples=((0.0, 100), (1.0, 200))) -> ReplicaSet:
    pool = SimpleNamespace(reachability=SimpleNamespace(unreachable=pool_unreachable))
    replica = Replica(name="u@db2:5433/mimir", conninfo="", location="db2:5433/mimir",
                      pool=pool, healthy=healthy, problem=problem)  # type: ignore[arg-type]
    replicas = ReplicaSet("", [replica], max_lag_s=2.0)
    for at, lsn in samples:
        replicas.clock.record(at, lsn)
    if replayed is not None:
        replica.saw_replayed(replayed)
        replica.caught_up_at = replicas.clock.caught_up_at(replayed)
    return replicas


def _entry(replicas: ReplicaSet, now: float, details: bool = True) -> dict:
    report = replicas_report(replicas, details=details, now=now)
    assert report is not None and len(report) == 1
    return report[0]


class TestReplicaEntries:
    def test_current_replica_is_usable(self):
        entry = _entry(_set(200), now=1.3)
        assert entry == {"location": "db2:5433/mimir", "reachable": True, "usable": True,
                         "skipped_because": None, "lag_s": pytest.approx(0.3),
                         "lag_bytes": 0, "max_lag_s": 2.0, "reads_served": 0,
                         "conflict_retries": 0}

    def test_behind_the_bound(self):
        replicas = _set(150, samples=((0.0, 100), (1.0, 200), (3.5, 300)))
        entry = _entry(replicas, now=3.6)
        assert entry["usable"] is False and entry["reachable"] is True
        assert entry["skipped_because"] == "behind"
        assert entry["lag_s"] == pytest.approx(3.6)
        assert entry["lag_bytes"] == 150

    def test_never_caught_up_has_no_lag_in_seconds(self):
        entry = _entry(_set(50), now=1.1)
        assert entry["lag_s"] is None and entry["lag_bytes"] == 150
        assert entry["skipped_because"] == "behind"

    def test_unreachable(self):
        replicas = _set(200)
        replicas.replicas[0].mark_unreachable()
        entry = _entry(replicas, now=1.1)
        assert (entry["reachable"], entry["usable"], entry["skipped_because"]) == (
            False, False, "unreachable")

    def test_pool_that_cannot_connect_is_unreachable(self):
        entry = _entry(_set(200, pool_unreachable=True), now=1.1)
        assert entry["reachable"] is False and entry["skipped_because"] == "unreachable"

    def test_not_a_standby(self):
        entry = _entry(_set(200, healthy=False, problem=NOT_A_STANDBY), now=1.1)
        assert entry["reachable"] is True and entry["skipped_because"] == "not_a_standby"

    def test_primary_not_sampled_within_the_bound(self):
        entry = _entry(_set(200), now=3.5)  # last primary sample 2.5 s ago, bound 2 s
        assert entry["usable"] is False and entry["skipped_because"] == "primary_unsampled"

    def test_repeated_conflicts_skip_it_a_while_and_are_counted(self):
        replicas = _set(200)
        replica = replicas.replicas[0]
        for at in (1.0, 1.05, 1.1):  # three reads replay cancelled, retried on the primary
            replica.note_conflict(at)
        entry = _entry(replicas, now=1.2)
        assert entry["usable"] is False and entry["skipped_because"] == "conflicts"
        assert entry["reachable"] is True and entry["conflict_retries"] == 3
        assert "conflict_retries" not in _entry(replicas, now=1.2, details=False)

    def test_location_only_with_details(self):
        entry = _entry(_set(200), now=1.1, details=False)
        assert "location" not in entry and "reads_served" not in entry
        assert entry["usable"] is True

    def test_no_replicas_no_section(self):
        assert replicas_report(None, details=True) is None


def test_location_has_no_credentials():
    from mimir.db.connection import location

    where = location("host=db2 port=5433 user=reader password=s3cr3t dbname=mimir "
                     "application_name=mimir-replica")
    assert where == "db2:5433/mimir"
