"""Read replicas against a real streaming standby (tests/streaming_replica.py): reads come
from a current replica, a client that wrote reads its write at once (header echoed, or the
same process remembering its key), and a replica that is paused beyond the bound or stopped
is skipped without an error."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from mimir.db.replicas import parse_lsn
from mimir.rest.read_routing import HEADER
from tests.streaming_replica import StreamingPair, missing_reason

pytestmark = pytest.mark.skipif(missing_reason() is not None,
                                reason=missing_reason() or "")

DBNAME = "mimir_replica_test"
WRITER, READER = ("10.0.0.1", 4000), ("10.0.0.2", 4000)
ARTIFACT_QUERY = "query ($id: UUID!) { artifact(id: $id) { id title } }"


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    servers = StreamingPair()
    try:
        servers.start(DBNAME)
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def make_app(pair: StreamingPair, tmp_path) -> Callable:
    @asynccontextmanager
    async def running(max_lag_s: float, replica_url: str | None = None) -> AsyncIterator:
        from mimir.app import create_app

        settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"),
                            MIMIR_WORKER="off", MIMIR_EMBEDDING_PROVIDER="none",
                            MIMIR_DATABASE_REPLICA_URLS=replica_url or pair.standby.url(DBNAME),
                            MIMIR_REPLICA_MAX_LAG_S=str(max_lag_s))
        app = create_app(settings, PreparedDatabase(conninfo=pair.primary.conninfo(DBNAME)),
                         close_database=False)
        async with app.router.lifespan_context(app):
            yield app

    return running


def http(app, address: tuple[str, int]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://mimir.test", timeout=30)


async def create(client: httpx.AsyncClient, title: str) -> tuple[str, str]:
    """A new artifact's id and the response's read-after position."""
    response = await client.post("/api/v1/artifacts",
                                 json={"kind": "note", "title": title, "content": title})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.headers[HEADER]


async def graphql_title(client: httpx.AsyncClient, artifact_id: str,
                        headers: dict[str, str] | None = None) -> str | None:
    response = await client.post("/graphql", headers=headers or {},
                                 json={"query": ARTIFACT_QUERY, "variables": {"id": artifact_id}})
    assert response.status_code == 200, response.text
    found = response.json()["data"]["artifact"]
    return found["title"] if found else None


def replica_checkouts(app) -> int:
    return app.state.pool.replicas.replicas[0].pool.get_stats().get("requests_num", 0)


async def until(condition: Callable, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def paused(app, pair: StreamingPair) -> AsyncIterator[None]:
    """Replay paused on the standby once the app counts it as current (pausing earlier
    could leave it behind a position the app's start-up wrote: never usable)."""
    async def usable() -> bool:
        return bool(app.state.pool.replicas.usable())

    await asyncio.to_thread(pair.wait_replayed)
    await until(usable)
    pair.on_standby("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        pair.on_standby("SELECT pg_wal_replay_resume()")


class TestReplicaServesReads:
    """A current replica answers reads; a write's position routes a read to the primary."""

    async def test_reads_come_from_the_replica(self, make_app, pair):
        async with make_app(max_lag_s=5.0) as app, http(app, WRITER) as writer, \
                http(app, READER) as reader, paused(app, pair):
            before = replica_checkouts(app)
            artifact_id, read_after = await create(writer, f"replica-{uuid.uuid4()}")
            assert parse_lsn(read_after) is not None
            # Replay is paused: only the primary has the artifact. A reader that did not
            # write and sends no position reads from the replica, so does not see it yet...
            assert (await reader.get(f"/api/v1/artifacts/{artifact_id}")).status_code == 404
            assert await graphql_title(reader, artifact_id) is None
            assert replica_checkouts(app) > before
            # ...and sees it at once when it sends the write's position (the primary answers).
            seen = await reader.get(f"/api/v1/artifacts/{artifact_id}",
                                    headers={HEADER: read_after})
            assert seen.status_code == 200
            assert await graphql_title(reader, artifact_id, {HEADER: read_after}) is not None
            # The writer itself needs no header on this process: its key (here, its address)
            # is remembered with the position of its last write.
            assert (await writer.get(f"/api/v1/artifacts/{artifact_id}")).status_code == 200
            assert await graphql_title(writer, artifact_id) is not None
            # A malformed position is served by the primary, never refused.
            odd = await reader.get(f"/api/v1/artifacts/{artifact_id}", headers={HEADER: "x"})
            assert odd.status_code == 200

    async def test_a_caught_up_replica_serves_positions_it_has_replayed(self, make_app, pair):
        async with make_app(max_lag_s=5.0) as app, http(app, WRITER) as writer, \
                http(app, READER) as reader:
            artifact_id, read_after = await create(writer, f"replayed-{uuid.uuid4()}")
            await asyncio.to_thread(pair.wait_replayed)
            before = replica_checkouts(app)
            seen = await reader.get(f"/api/v1/artifacts/{artifact_id}",
                                    headers={HEADER: read_after})
            assert seen.status_code == 200
            assert replica_checkouts(app) > before

    async def test_writes_and_admin_reads_stay_on_the_primary(self, make_app, pair):
        async with make_app(max_lag_s=5.0) as app, http(app, WRITER) as writer:
            before = replica_checkouts(app)
            await create(writer, f"primary-{uuid.uuid4()}")
            assert (await writer.get("/api/v1/admin/namespaces")).status_code == 200
            assert replica_checkouts(app) == before
            response = await writer.post("/graphql", json={
                "query": "mutation ($name: String!) { createIntentGroup(input: {name: $name})"
                         " { id } }", "variables": {"name": f"g-{uuid.uuid4().hex[:8]}"}})
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            assert HEADER in response.headers
            assert replica_checkouts(app) == before


class TestReadYourWrites:
    """Under concurrent load with replay delayed, every read right after a write sees it."""

    CLIENTS = 8
    ROUNDS = 6

    async def test_under_load_with_delayed_replay(self, make_app, pair):
        pair.on_standby("ALTER SYSTEM SET recovery_min_apply_delay = '300ms'")
        pair.on_standby("SELECT pg_reload_conf()")
        try:
            async with make_app(max_lag_s=5.0) as app:
                before = replica_checkouts(app)
                misses = await asyncio.gather(*(self._client(app, n)
                                                for n in range(self.CLIENTS)))
                assert sum(misses) == 0
                # Reads of rows written by others, without a position, went to the replica.
                assert replica_checkouts(app) > before
        finally:
            pair.on_standby("ALTER SYSTEM RESET recovery_min_apply_delay")
            pair.on_standby("SELECT pg_reload_conf()")

    async def _client(self, app, n: int) -> int:
        misses = 0
        async with http(app, (f"10.1.0.{n + 1}", 5000)) as client, \
                http(app, (f"10.2.0.{n + 1}", 5000)) as bystander:
            for round_ in range(self.ROUNDS):
                artifact_id, read_after = await create(client, f"ryw-{n}-{round_}")
                echoed = await client.get(f"/api/v1/artifacts/{artifact_id}",
                                          headers={HEADER: read_after})
                remembered = await client.get(f"/api/v1/artifacts/{artifact_id}")
                title = await graphql_title(client, artifact_id, {HEADER: read_after})
                # Another client with the position (handed over out of band) sees it too.
                passed_on = await bystander.get(f"/api/v1/artifacts/{artifact_id}",
                                                headers={HEADER: read_after})
                await bystander.get("/api/v1/artifacts?limit=5")  # a plain stale-ok read
                misses += sum(r.status_code != 200 for r in (echoed, remembered, passed_on))
                misses += title is None
        return misses


class TestSkippedReplicas:
    """A replica behind the bound or gone is skipped: reads come from the primary, no 5xx."""

    async def test_a_paused_replica_is_skipped_beyond_the_bound(self, make_app, pair):
        async with make_app(max_lag_s=1.0) as app, http(app, WRITER) as writer, \
                http(app, READER) as reader, paused(app, pair):
            artifact_id, _ = await create(writer, f"behind-{uuid.uuid4()}")

            async def served_fresh() -> bool:
                return (await reader.get(f"/api/v1/artifacts/{artifact_id}")).status_code == 200

            started = time.monotonic()
            await until(served_fresh, timeout_s=5.0)
            # Within the bound plus a check interval or two (and some slack for a busy machine).
            assert time.monotonic() - started <= 3.0
            assert app.state.pool.replicas.usable() == []
            before = replica_checkouts(app)
            assert (await reader.get("/api/v1/artifacts?limit=5")).status_code == 200
            assert replica_checkouts(app) == before

    async def test_an_idle_primary_keeps_a_current_replica_usable(self, make_app, pair):
        async with make_app(max_lag_s=1.0) as app:
            await asyncio.to_thread(pair.wait_replayed)
            await asyncio.sleep(2.5)  # nothing written: the replay timestamp ages, lag does not
            assert len(app.state.pool.replicas.usable()) == 1

    async def test_a_stopped_replica_is_skipped(self, make_app, pair):
        async with make_app(max_lag_s=5.0) as app, http(app, WRITER) as writer, \
                http(app, READER) as reader:
            artifact_id, _ = await create(writer, f"stopped-{uuid.uuid4()}")
            await asyncio.to_thread(pair.wait_replayed)
            assert (await reader.get(f"/api/v1/artifacts/{artifact_id}")).status_code == 200
            await asyncio.to_thread(pair.standby.stop)
            try:
                statuses = []
                for _ in range(10):
                    statuses.append((await reader.get(f"/api/v1/artifacts/{artifact_id}")).status_code)
                    statuses.append(200 if await graphql_title(reader, artifact_id) else 404)
                assert statuses == [200] * 20
                started = time.monotonic()
                assert (await reader.get("/api/v1/artifacts?limit=5")).status_code == 200
                assert time.monotonic() - started < 1.0  # skipped at once, not timed out
            finally:
                await asyncio.to_thread(pair.standby.start)


class TestReplicasInHealth:
    """/health lists each replica: where, reachable, usable or why skipped, and its lag.
    A replica behind or down never changes the service's status."""

    SECRET = "Rq8vN3xP-replica-secret"

    @staticmethod
    async def entry(client: httpx.AsyncClient) -> tuple[dict, dict]:
        response = await client.get("/health")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ok" and body["database"]["reachable"] is True
        assert len(body["replicas"]) == 1
        return body, body["replicas"][0]

    async def test_a_current_replica_is_shown_usable(self, make_app, pair):
        async with make_app(max_lag_s=5.0) as app, http(app, READER) as client:
            await asyncio.to_thread(pair.wait_replayed)
            await until(lambda: _usable(app))
            body, entry = await self.entry(client)
            assert entry["location"] == f"127.0.0.1:{pair.standby.port}/{DBNAME}"
            assert entry["reachable"] is True and entry["usable"] is True
            assert entry["skipped_because"] is None
            assert 0 <= entry["lag_s"] <= 5.0 and entry["max_lag_s"] == 5.0
            assert entry["lag_bytes"] is not None and entry["lag_bytes"] >= 0
            assert (await client.get("/api/v1/health")).json()["replicas"] == [
                {**entry, "lag_s": ANY_NUMBER, "lag_bytes": ANY_NUMBER}]
            assert (await client.get("/api/v1/artifacts?limit=5")).status_code == 200
            _, after = await self.entry(client)
            assert after["reads_served"] == entry["reads_served"] + 1

    async def test_paused_replay_beyond_the_bound_is_shown_behind(self, make_app, pair):
        async with make_app(max_lag_s=1.0) as app, http(app, WRITER) as writer, \
                paused(app, pair):
            await create(writer, f"health-behind-{uuid.uuid4()}")

            async def skipped() -> bool:
                return (await self.entry(writer))[1]["usable"] is False

            await until(skipped, timeout_s=5.0)
            _, entry = await self.entry(writer)
            assert entry["reachable"] is True and entry["skipped_because"] == "behind"
            assert entry["lag_s"] is None or entry["lag_s"] > 1.0
            assert entry["lag_bytes"] > 0

    async def test_a_stopped_replica_is_shown_unreachable_and_no_password_leaks(
            self, make_app, pair, caplog, capsys):
        url = f"postgresql://postgres:{self.SECRET}@127.0.0.1:{pair.standby.port}/{DBNAME}"
        caplog.set_level("WARNING")
        async with make_app(max_lag_s=5.0, replica_url=url) as app, \
                http(app, READER) as client:
            await until(lambda: _usable(app))
            await asyncio.to_thread(pair.standby.stop)
            try:
                async def unreachable() -> bool:
                    return (await self.entry(client))[1]["reachable"] is False

                await until(unreachable, timeout_s=10.0)
                response = await client.get("/health")
                assert response.status_code == 200
                entry = response.json()["replicas"][0]
                assert entry["usable"] is False and entry["skipped_because"] == "unreachable"
                assert entry["location"] == f"127.0.0.1:{pair.standby.port}/{DBNAME}"
                assert self.SECRET not in response.text
                assert (await client.get("/api/v1/artifacts?limit=5")).status_code == 200
            finally:
                await asyncio.to_thread(pair.standby.start)
        captured = capsys.readouterr()
        logged = "\n".join([*(str(r.__dict__) for r in caplog.records), captured.out,
                            captured.err])
        assert "replica unreachable" in logged  # the outage was logged...
        assert self.SECRET not in logged  # ...without the password


class _AnyNumber:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, int | float)


ANY_NUMBER = _AnyNumber()


async def _usable(app) -> bool:
    return bool(app.state.pool.replicas.usable())
