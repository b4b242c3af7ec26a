"""The pure parts of read-replica routing: WAL positions, staleness from primary samples,
the per-caller write memory and which requests may read stale data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.datastructures import Headers

from mimir.db.replicas import PrimaryClock, Replica, format_lsn, parse_lsn
from mimir.rest.read_routing import LastWrites, reads_may_lag, requested_position


class TestPositions:
    """pg_lsn text <-> numbers."""

    @pytest.mark.parametrize("text", ["0/0", "0/3000000", "16/B374D48", "FFFFFFFF/FFFFFFFF"])
    def test_round_trip(self, text):
        assert format_lsn(parse_lsn(text)) == text

    def test_order_is_numeric(self):
        assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF") > parse_lsn("0/A")

    @pytest.mark.parametrize("text", ["", "x", "0-1", "1/2/3", "123456789/0", "0/ 1"])
    def test_malformed_is_none(self, text):
        assert parse_lsn(text) is None

    def test_a_malformed_header_asks_for_more_than_any_replica_has(self):
        assert requested_position(Headers({"x-mimir-read-after": "nonsense"})) > parse_lsn(
            "FFFFFFFF/FFFFFFFF")
        assert requested_position(Headers({"x-mimir-read-after": "0/10"})) == 16
        assert requested_position(Headers({})) is None


def _replica(clock: PrimaryClock, replayed: int) -> Replica:
    pool = SimpleNamespace(reachability=SimpleNamespace(unreachable=False))
    replica = Replica(name="r", conninfo="", pool=pool, healthy=True)  # type: ignore[arg-type]
    replica.saw_replayed(replayed)
    replica.caught_up_at = clock.caught_up_at(replica.replayed)
    return replica


class TestStaleness:
    """Staleness is the age of the latest primary sample the replica has replayed past."""

    def test_idle_primary_means_no_lag(self):
        clock = PrimaryClock(keep_s=10)
        for at in (0.0, 0.5, 1.0, 60.0):  # nothing written for a minute
            clock.record(at, 1000)
        replica = _replica(clock, 1000)
        assert replica.staleness(60.2) == pytest.approx(0.2)
        assert replica.usable(60.2, max_lag_s=1.0)

    def test_behind_grows_from_the_last_sample_reached(self):
        clock = PrimaryClock(keep_s=10)
        clock.record(1.0, 100)
        clock.record(1.5, 200)
        clock.record(2.0, 300)
        replica = _replica(clock, 250)
        assert replica.caught_up_at == 1.5
        assert replica.usable(2.4, max_lag_s=1.0)
        assert not replica.usable(2.6, max_lag_s=1.0)

    def test_behind_every_sample_is_unusable(self):
        clock = PrimaryClock(keep_s=10)
        clock.record(1.0, 500)
        replica = _replica(clock, 100)
        assert replica.caught_up_at is None
        assert not replica.usable(1.0, max_lag_s=100)

    def test_old_samples_are_dropped(self):
        clock = PrimaryClock(keep_s=2)
        for at in range(10):
            clock.record(float(at), at)
        assert [at for at, _ in clock.samples] == [7.0, 8.0, 9.0]

    def test_unhealthy_or_unreachable_is_unusable(self):
        clock = PrimaryClock(keep_s=10)
        clock.record(0.0, 1)
        replica = _replica(clock, 1)
        replica.healthy = False
        assert not replica.usable(0.1, max_lag_s=5)
        replica.healthy = True
        replica.pool.reachability.unreachable = True
        assert not replica.usable(0.1, max_lag_s=5)


class TestLastWrites:
    """A caller's last write position is remembered for the window, the highest kept."""

    def test_window(self):
        writes = LastWrites(window_s=2.0)
        writes.remember("key:a", 50, now=10.0)
        writes.remember("key:a", 40, now=11.0)  # an older position never lowers it
        assert writes.position("key:a", now=12.9) == 50
        assert writes.position("key:a", now=13.1) is None
        assert writes.position("key:b", now=11.0) is None


class TestWhatMayReadStale:
    @pytest.mark.parametrize(("method", "path", "expected"), [
        ("GET", "/api/v1/artifacts", True),
        ("HEAD", "/api/v1/artifacts/1", True),
        ("POST", "/api/v1/search/text", True),
        ("POST", "/api/v1/context", True),
        ("POST", "/graphql", True),
        ("POST", "/api/v1/artifacts", False),
        ("DELETE", "/api/v1/relations/1", False),
        ("GET", "/api/v1/admin/keys", False),
        ("GET", "/api/v1/health", False),
        ("GET", "/health", False),
        ("POST", "/mcp", False),
    ])
    def test_classification(self, method, path, expected):
        assert reads_may_lag(method, path) is expected


class TestReplicaSettings:
    """Replica URLs: validated, given POSTGRES_PASSWORD like DATABASE_URL, never shown."""

    SECRET = "Vq7#kT2z!Lm9pX4w"

    def _settings(self, urls: str, **extra: str):
        from mimir.config import Settings

        return Settings(_env_file=None, MIMIR_DATABASE_REPLICA_URLS=urls, **extra)

    def test_password_added_and_never_shown(self):
        from psycopg.conninfo import conninfo_to_dict

        from mimir.db.connection import describe, resolve_replica_conninfos

        settings = self._settings("postgresql://u@r1:5432/mimir, postgresql://u:own@r2/mimir",
                                  POSTGRES_PASSWORD=self.SECRET)
        first, second = (conninfo_to_dict(c) for c in resolve_replica_conninfos(settings))
        assert first["password"] == self.SECRET and first["host"] == "r1"
        assert second["password"] == "own"  # a URL's own password wins
        assert first["application_name"] == "mimir-replica"
        assert self.SECRET not in repr(settings)
        assert self.SECRET not in describe(resolve_replica_conninfos(settings)[0])

    def test_unset_means_none(self):
        from mimir.db.connection import resolve_replica_conninfos

        assert resolve_replica_conninfos(self._settings("")) == []

    def test_other_schemes_are_refused(self):
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match="postgresql://"):
            self._settings("postgresql://u@r1/m,mysql://u@r2/m")
