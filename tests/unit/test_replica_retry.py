"""A read that a replica's replay cancelled is run again once on the primary: which errors
count as recovery conflicts, how the pool marks the route, and the middleware's retry."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import errors as pg

from mimir.db.pool import DatabaseUnavailable
from mimir.db.recovery_conflicts import is_recovery_conflict
from mimir.db.replicas import CONFLICT_BURST, CONFLICT_PAUSE_S, Replica, ReplicaSet
from mimir.db.routing import Route, RoutedPool, current_route, enter_route, leave_route
from mimir.rest.read_routing import ReadRoutingMiddleware


def _replica(name: str = "r", pool=None) -> Replica:
    pool = pool or SimpleNamespace(reachability=SimpleNamespace(unreachable=False))
    replica = Replica(name=name, conninfo="", pool=pool, healthy=True)  # type: ignore[arg-type]
    replica.caught_up_at = time.monotonic()
    return replica


def _lost_connection(cause: Exception) -> DatabaseUnavailable:
    try:
        raise DatabaseUnavailable() from cause
    except DatabaseUnavailable as exc:
        return exc


class TestWhichErrors:
    @pytest.mark.parametrize("error", [
        pg.SerializationFailure("canceling statement due to conflict with recovery"),
        pg.DeadlockDetected("canceling statement due to conflict with recovery"),
        pg.DatabaseDropped("terminating connection due to conflict with recovery"),
        psycopg.OperationalError("consuming input failed: terminating connection due to "
                                 "conflict with recovery"),
        _lost_connection(pg.SerializationFailure("terminating connection")),
    ])
    def test_conflicts(self, error):
        assert is_recovery_conflict(error)

    @pytest.mark.parametrize("error", [
        pg.QueryCanceled("canceling statement due to statement timeout"),
        pg.UniqueViolation("duplicate key"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        _lost_connection(psycopg.OperationalError("connection refused")),
        RuntimeError("conflict with recovery"),  # not a database error
        None,
    ])
    def test_other_errors(self, error):
        assert not is_recovery_conflict(error)


class TestRepeatedConflicts:
    def test_a_burst_skips_the_replica_for_a_while(self):
        replica = _replica()
        now = time.monotonic()
        marks = [replica.note_conflict(now + i * 0.1) for i in range(CONFLICT_BURST)]
        assert marks == [False] * (CONFLICT_BURST - 1) + [True]
        assert replica.conflict_retries == CONFLICT_BURST
        assert not replica.usable(now + 1, max_lag_s=1e9)
        assert replica.usable(now + CONFLICT_PAUSE_S + 1, max_lag_s=1e9)

    def test_spread_out_conflicts_keep_it_usable(self):
        replica = _replica()
        for i in range(CONFLICT_BURST * 3):
            assert not replica.note_conflict(1000.0 + i * 60)
        assert replica.usable(1000.0 + CONFLICT_BURST * 180, max_lag_s=1e9)


class _FakePool:
    def __init__(self, name: str) -> None:
        self.name = name
        self.reachability = SimpleNamespace(unreachable=False)

        self.closed = False  # the state of the connection it hands out

    @asynccontextmanager
    async def connection(self, *_args):
        yield SimpleNamespace(name=self.name, closed=self.closed)


class TestPoolMarksTheRoute:
    async def _read(self, route: Route, error: Exception, closed: bool = False) -> str:
        replica_pool = _FakePool("replica")
        replica_pool.closed = closed
        replicas = ReplicaSet("", [_replica(pool=replica_pool)], max_lag_s=5.0)
        pool = RoutedPool(_FakePool("primary"), replicas)  # type: ignore[arg-type]
        token = enter_route(route)
        try:
            async with pool.connection() as conn:
                raise error
        except type(error):
            return conn.name
        finally:
            leave_route(token)

    async def test_a_conflict_on_a_replica_connection(self):
        route = Route(reads_may_lag=True)
        assert await self._read(route, pg.SerializationFailure("conflict")) == "replica"
        assert route.replica_conflict == "conflict"

    async def test_a_replica_connection_lost_mid_read(self):
        # How a session terminated by replay may arrive: the FATAL text lost with the socket.
        route = Route(reads_may_lag=True)
        error = psycopg.OperationalError("server closed the connection unexpectedly")
        await self._read(route, error, closed=True)
        assert route.replica_conflict == "connection_lost"

    async def test_an_operational_error_on_an_open_connection_is_not_marked(self):
        route = Route(reads_may_lag=True)
        await self._read(route, psycopg.OperationalError("something"), closed=False)
        assert route.replica_conflict is None

    async def test_the_same_error_on_the_primary_is_not_marked(self):
        route = Route(reads_may_lag=False)
        assert await self._read(route, pg.SerializationFailure("conflict")) == "primary"
        assert route.replica_conflict is None
        assert route.used_primary

    async def test_another_error_on_a_replica_is_not_marked(self):
        route = Route(reads_may_lag=True)
        await self._read(route, pg.QueryCanceled("statement timeout"), closed=True)
        assert route.replica_conflict is None


class _App:
    """Reads the body; on a route that may read a replica, "reads" one that replay cancels
    (409, as the error handler answers); on the primary, answers 200 with what it got."""

    def __init__(self, *, conflict_on_primary_too=False, writes=False, raises=False) -> None:
        self.replica = _replica()
        self.runs: list[dict] = []
        self.conflict_on_primary_too = conflict_on_primary_too
        self.writes = writes
        self.raises = raises

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        route = current_route()
        assert route is not None
        self.runs.append({"replica_route": route.reads_may_lag, "body": body})
        if route.reads_may_lag:
            route.replica = self.replica
            self.replica.reads += 1
        if self.writes:
            route.used_primary = True
        if route.reads_may_lag or self.conflict_on_primary_too:
            route.replica_conflict = "conflict"
            if self.raises:
                raise pg.SerializationFailure("canceling statement due to conflict with recovery")
            status, payload = 409, b'{"error": {"code": "conflict"}}'
        else:
            status, payload = 200, json.dumps({"got": body.decode()}).encode()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": payload[:5], "more_body": True})
        await send({"type": "http.response.body", "body": payload[5:]})


async def _call(app: _App, method: str, path: str, chunks=(b"",)) -> tuple[int, bytes]:
    middleware = ReadRoutingMiddleware(app, window_s=5.0, max_body_bytes=1024)
    incoming = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks)]
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [],
             "client": ("10.0.0.9", 1234), "query_string": b""}
    await middleware(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1  # the client sees exactly one response
    return starts[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


class TestMiddlewareRetry:
    async def test_a_read_is_retried_once_on_the_primary(self):
        app = _App()
        status, body = await _call(app, "GET", "/api/v1/artifacts")
        assert status == 200 and json.loads(body) == {"got": ""}
        assert [run["replica_route"] for run in app.runs] == [True, False]
        assert app.replica.conflict_retries == 1
        assert app.replica.reads == 0  # the primary served it in the end

    async def test_the_body_is_replayed(self):
        app = _App()
        status, body = await _call(app, "POST", "/api/v1/search/hybrid",
                                   chunks=(b'{"query": ', b'"cats"}'))
        assert status == 200
        assert [run["body"] for run in app.runs] == [b'{"query": "cats"}'] * 2
        assert json.loads(body) == {"got": '{"query": "cats"}'}

    async def test_graphql_queries_too(self):
        app = _App()
        status, _ = await _call(app, "POST", "/graphql", chunks=(b'{"query": "{ x }"}',))
        assert status == 200 and len(app.runs) == 2

    async def test_not_twice(self):
        app = _App(conflict_on_primary_too=True)
        status, _ = await _call(app, "GET", "/api/v1/artifacts")
        assert status == 409
        assert len(app.runs) == 2
        assert app.replica.conflict_retries == 1

    async def test_not_for_writes(self):
        app = _App(conflict_on_primary_too=True)
        status, _ = await _call(app, "POST", "/api/v1/artifacts", chunks=(b"{}",))
        assert status == 409 and len(app.runs) == 1

    async def test_not_when_the_request_took_a_primary_connection(self):
        app = _App(writes=True)
        status, _ = await _call(app, "POST", "/graphql", chunks=(b'{"query": "mutation"}',))
        assert status == 409 and len(app.runs) == 1
        assert app.replica.conflict_retries == 0

    async def test_an_error_that_escapes_is_retried_too(self):
        app = _App(raises=True)
        status, _ = await _call(app, "GET", "/api/v1/artifacts")
        assert status == 200 and len(app.runs) == 2

    async def test_a_body_over_the_cap_is_not_retried(self):
        app = _App()
        status, _ = await _call(app, "POST", "/api/v1/search/hybrid",
                                chunks=(b"x" * 1000, b"y" * 100))
        assert status == 409 and len(app.runs) == 1
        assert app.runs[0]["body"] == b"x" * 1000 + b"y" * 100
