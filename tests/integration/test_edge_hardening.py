"""Issue 18, the HTTP edge: what a hostile client sent and the server mishandled.

Row 4: /health tells a saturated pool from a dead database and answers while every pooled
connection is taken; row 5: rate limits by the key's identity and by address for failed
and unauthenticated attempts; rows 9-10: malformed input is a 4xx in the error shape, never
a 500 or silently stored; row 11: versions only for admin keys, no server paths in errors;
row 12: header and body read timeouts (real HTTP against `mimir serve`).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from mimir.app import create_app
from mimir.auth.keys import create_key
from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from tests.faults import Server, mimir_env


async def _key(conninfo: str, scope: str) -> str:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        key, _ = await create_key(conn, name=f"{scope} key", scope=scope)
        return key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"]
    return error


class _App:
    """The app with its own settings, served in-process."""

    def __init__(self, conninfo: str, **env: str) -> None:
        settings = Settings(_env_file=None, MIMIR_WORKER="off", MIMIR_EMBEDDING_PROVIDER="none",
                            **env)
        self.app = create_app(settings, PreparedDatabase(conninfo=conninfo),
                              close_database=False)

    async def __aenter__(self) -> httpx.AsyncClient:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://mimir.test", timeout=30)
        return self._http

    async def __aexit__(self, *exc) -> None:
        await self._http.aclose()
        await self._lifespan.__aexit__(*exc)


# Row 4 ---------------------------------------------------------------------------------------

class TestHealthUnderSaturation:
    async def test_health_answers_while_50_graphql_reads_hold_the_pool(self, db_conninfo):
        """50 concurrent GraphQL reads block on a table lock, holding every pooled connection
        (the rest queue): /health still answers within 1 s, reports the database reachable
        and the pool saturated (`busy`, 200), not `degraded`. Before, it waited 3 s for a
        pooled connection and said `degraded, reachable: false`."""
        async with _App(db_conninfo, MIMIR_DB_POOL_MAX="4") as http:
            created = await http.post("/api/v1/artifacts", json={"kind": "note", "content": "x"})
            assert created.status_code == 201
            assert (await http.get("/health")).json()["status"] == "ok"
            query = {"query": "{ artifacts(first: 50) { edges { node { id versions { "
                              "content } } } } }"}
            async with await psycopg.AsyncConnection.connect(db_conninfo) as locker:
                async with locker.transaction():
                    await locker.execute("LOCK TABLE artifacts IN ACCESS EXCLUSIVE MODE")
                    reads = [asyncio.create_task(http.post("/graphql", json=query))
                             for _ in range(50)]
                    await asyncio.sleep(1.0)  # the reads take every pooled connection
                    assert not any(r.done() for r in reads)
                    timings = []
                    for _ in range(3):
                        started = time.monotonic()
                        health = await http.get("/health")
                        timings.append(time.monotonic() - started)
                    body = health.json()
                # the lock is gone: the reads that still wait for a connection finish
            results = await asyncio.gather(*reads)
        assert max(timings) < 1.0, timings
        assert health.status_code == 200, body
        assert body["database"]["reachable"] is True
        assert body["status"] == "busy"
        assert body["pool"]["saturated"] is True
        assert body["pool"]["available"] == 0 and body["pool"]["size"] == 4
        assert sum(r.status_code == 200 for r in results) >= 4

    async def test_pool_figures_and_ok_when_idle(self, client):
        body = (await client.get("/health")).json()
        assert body["status"] == "ok" and body["pool"]["saturated"] is False


# Row 11 (health) -----------------------------------------------------------------------------

class TestHealthDetailsForAdminsOnly:
    async def test_versions_only_for_admin_keys(self, client, db_conninfo):
        """Once keys exist, /health stays open but shows versions, migration, job counts
        and pool figures only to an admin key; no key, a read key or a bad one gets
        liveness only."""
        admin = await _key(db_conninfo, "admin")
        read = await _key(db_conninfo, "read")
        for headers in ({}, _bearer(read), _bearer("mimir_unknown"), {"Authorization": "x"}):
            response = await client.get("/health", headers=headers)
            assert response.status_code == 200, headers
            body = response.json()
            assert body == {"status": "ok", "database": {"reachable": True},
                            "pool": {"saturated": False}}, headers
        full = (await client.get("/health", headers={"Authorization": f"  bearer  {admin} "}))
        body = full.json()
        assert body["database"]["server_version"].startswith("18")
        assert body["database"]["pgvector_version"] and body["database"]["migration_revision"]
        assert body["jobs"] == {"queued": 0, "running": 0, "failed": 0}
        assert body["version"] and body["pool"]["max_size"] >= 1

    async def test_two_authorization_headers_are_refused(self, client):
        response = await client.get("/health", headers=[("Authorization", "Bearer a"),
                                                        ("Authorization", "Bearer b")])
        _error(response, 400, "bad_request")


# Row 5 and row 10 (headers) ------------------------------------------------------------------

class TestRateLimitIdentity:
    async def test_spellings_of_one_key_share_one_bucket(self, db_conninfo):
        """`Bearer`, `bearer`, `BEARER` and extra spaces are one key: one bucket (before,
        each spelling had a fresh one)."""
        key = await _key(db_conninfo, "read")
        spellings = [f"Bearer {key}", f"bearer {key}", f"BEARER {key}", f"  Bearer   {key}  ",
                     f"bEaReR\t{key}"]
        async with _App(db_conninfo, MIMIR_RATE_LIMIT_PER_MINUTE="4") as http:
            codes = [(await http.get("/api/v1/intents", headers={"Authorization": s}))
                     .status_code for s in spellings]
        assert codes == [200, 200, 200, 200, 429]

    async def test_failed_and_unauthenticated_attempts_are_limited_by_address(self, db_conninfo):
        """Unknown keys, malformed headers and missing keys draw from the client address's
        bucket (before, they were never limited); then even a valid key from that address
        waits, without a lookup."""
        key = await _key(db_conninfo, "read")
        async with _App(db_conninfo, MIMIR_RATE_LIMIT_PER_MINUTE="3") as http:
            failures = [
                (await http.get("/api/v1/intents", headers=h)).status_code
                for h in ({"Authorization": "Bearer mimir_guess1"}, {"Authorization": "Basic x"},
                          {})]
            limited = await http.get("/api/v1/intents",
                                     headers={"Authorization": "Bearer mimir_guess2"})
            valid = await http.get("/api/v1/intents", headers=_bearer(key))
        assert failures == [401, 401, 401]
        error = _error(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1 and error["details"]["retry_after_s"] >= 1
        assert valid.status_code == 429

    async def test_keyless_requests_on_an_open_server_are_limited(self, db_conninfo):
        async with _App(db_conninfo, MIMIR_RATE_LIMIT_PER_MINUTE="2") as http:
            codes = [(await http.get("/api/v1/intents")).status_code for _ in range(3)]
        assert codes == [200, 200, 429]

    async def test_two_authorization_headers_are_refused(self, client, db_conninfo):
        key = await _key(db_conninfo, "write")
        response = await client.get("/api/v1/intents", headers=[
            ("Authorization", f"Bearer {key}"), ("Authorization", "Bearer other")])
        error = _error(response, 400, "bad_request")
        assert "one Authorization header" in error["message"]


# Rows 9 and 10 (bodies) ----------------------------------------------------------------------

def _raw(client: httpx.AsyncClient, path: str, body: str):
    return client.post(path, content=body.encode(), headers={"content-type": "application/json"})


class TestMalformedBodies:
    async def test_lone_surrogate_in_content(self, client):
        """`\\ud800` in content was a 500 (PostgreSQL cannot store it)."""
        response = await _raw(client, "/api/v1/artifacts",
                              '{"kind": "note", "content": "a\\ud800b"}')
        error = _error(response, 422, "invalid")
        assert "surrogate" in error["message"]
        assert (await client.get("/api/v1/artifacts")).json()["items"] == []

    @pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400", "-1e400"])
    async def test_non_finite_metadata_numbers(self, client, number):
        """These were stored as null."""
        response = await _raw(client, "/api/v1/artifacts",
                              '{"kind": "note", "content": "x", "metadata": {"n": @}}'.replace("@", number))
        error = _error(response, 422, "invalid")
        assert "not valid JSON" in error["message"]
        assert (await client.get("/api/v1/artifacts")).json()["items"] == []

    async def test_duplicate_keys(self, client):
        """The last duplicate used to win silently, at any depth."""
        for body in ('{"kind": "note", "content": "x", "content": "y"}',
                     '{"kind": "note", "content": "x", "metadata": {"a": 1, "a": 2}}'):
            error = _error(await _raw(client, "/api/v1/artifacts", body), 422, "invalid")
            assert "repeats the key" in error["message"]
        assert (await client.get("/api/v1/artifacts")).json()["items"] == []

    async def test_deeply_nested_metadata(self, client):
        """Metadata ~500 deep was a 500 (recursion in the NUL check)."""
        metadata = "[" * 500 + "]" * 500
        response = await _raw(client, "/api/v1/artifacts",
                              '{"kind": "note", "content": "x", "metadata": {"a": @}}'.replace("@", metadata))
        error = _error(response, 422, "invalid")
        assert "nesting deeper than" in json.dumps(error)

    async def test_nul_in_metadata_contains_filter(self, client):
        """`metadata__contains={"a":"\\u0000"}` was a 500 from PostgreSQL."""
        response = await client.get("/api/v1/artifacts",
                                    params={"metadata__contains": '{"a": "\\u0000"}'})
        error = _error(response, 422, "invalid")
        assert "NUL" in error["message"] and error["details"]["parameter"] == "metadata__contains"

    async def test_body_that_is_not_utf8(self, client):
        response = await client.post("/api/v1/artifacts", content=b'{"kind": "note", '
                                     b'"content": "\xff"}',
                                     headers={"content-type": "application/json"})
        assert "UTF-8" in _error(response, 400, "bad_request")["message"]


class TestVectors:
    async def _space(self, client, distance: str = "cosine") -> list[str]:
        created = await client.post("/api/v1/embeddings/spaces", json={
            "name": f"mine-{distance}".replace("_", "-"), "model": "handmade", "dimensions": 3,
            "distance": distance})
        assert created.status_code == 201, created.text
        intent = await client.post("/api/v1/intents", json={"statement": "north"})
        return intent.json()["id"]

    @pytest.mark.parametrize("value", ["1e308", "-1e39", "NaN", "Infinity"])
    async def test_values_beyond_single_precision_or_not_finite(self, client, value):
        """1e308 was a 500 (pgvector's float4 overflows); NaN and Infinity too."""
        intent = await self._space(client)
        body = ('{"space": "mine-cosine", "vectors": [{"target_type": "intent", '
                '"target_id": "@id", "vector": [1, @v, 0]}]}').replace("@id", intent) \
            .replace("@v", value)
        _error(await _raw(client, "/api/v1/embeddings", body), 422, "invalid")
        search = await _raw(client, "/api/v1/search/semantic",
                            '{"space": "mine-cosine", "vector": [1, @, 0]}'.replace("@", value))
        _error(search, 422, "invalid")

    async def test_zero_vector_in_cosine_space(self, client):
        """A zero vector has no direction: it used to be stored (distances NaN)."""
        intent = await self._space(client)
        written = await client.post("/api/v1/embeddings", json={"space": "mine-cosine", "vectors": [
            {"target_type": "intent", "target_id": intent, "vector": [0, 0, 0]}]})
        error = _error(written, 422, "invalid")
        assert "zero vector" in error["message"]
        search = await client.post("/api/v1/search/semantic",
                                   json={"space": "mine-cosine", "vector": [0, 0, 0.0]})
        _error(search, 422, "invalid")

    async def test_zero_vector_in_l2_space_is_fine(self, client):
        intent = await self._space(client, "l2")
        written = await client.post("/api/v1/embeddings", json={"space": "mine-l2", "vectors": [
            {"target_type": "intent", "target_id": intent, "vector": [0, 0, 0]}]})
        assert written.json() == {"written": 1}


# Row 11 (paths) ------------------------------------------------------------------------------

class TestNoServerPaths:
    def test_redaction(self):
        from mimir.errors import redact_paths
        from mimir.jobs.service import error_summary

        gone = FileNotFoundError(2, "No such file or directory",
                                 "/root/.local/share/mimir/uploads/3f2a.zip")
        assert "/root" not in error_summary(gone)[1]
        assert "[path]" in error_summary(gone)[1]
        assert redact_paths("no route for GET /api/v1/nothing") == \
            "no route for GET /api/v1/nothing"

    async def test_error_messages_carry_no_paths(self, app, client):
        from mimir.errors import Invalid

        async def leaky():
            raise Invalid("cannot read /var/lib/mimir/uploads/abc.json: bad",
                          details={"file": "/tmp/mimir-upload-1/abc.json"})

        app.add_api_route("/_probe/leaky", leaky, methods=["GET"])
        error = _error(await client.get("/_probe/leaky"), 422, "invalid")
        assert "/var/" not in json.dumps(error) and "/tmp/" not in json.dumps(error)


# Row 12 --------------------------------------------------------------------------------------

def _read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed."""
    started = time.monotonic()
    sock.settimeout(within_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {within_s} s; got {data!r}") from None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


class TestReadTimeouts:
    def test_trickled_headers_and_bodies_are_cut_off(self, db_conninfo, tmp_path):
        """With a 1 s header timeout, 1 s body pause limit and 3 s body deadline, trickling
        connections are closed within those bounds (they were held 25-40 s); ordinary
        requests still work."""
        server = Server(mimir_env(db_conninfo, MIMIR_HTTP_HEADER_TIMEOUT="1",
                                  MIMIR_HTTP_BODY_TIMEOUT="1", MIMIR_HTTP_BODY_DEADLINE="3",
                                  MIMIR_WORKER="off", MIMIR_EMBEDDING_PROVIDER="none"),
                        tmp_path / "serve.log").start()
        try:
            host, port = "127.0.0.1", server.port
            # Headers: five connections each send a byte every 0.3 s, never finishing; a
            # connection gets no more bytes once the server has answered it.
            socks = [socket.create_connection((host, port)) for _ in range(5)]
            request = b"GET /api/v1/artifacts HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
            started = time.monotonic()
            answers: dict[socket.socket, bytes] = {}
            for byte in request:
                for sock in socks:
                    if sock not in answers:
                        sock.send(bytes([byte]))
                readable, _, _ = select.select([s for s in socks if s not in answers], [], [],
                                               0.3)
                for sock in readable:
                    answers[sock], _ = _read_until_closed(sock, 5)
                if len(answers) == len(socks) or time.monotonic() - started > 8:
                    break
            took = time.monotonic() - started
            for sock in socks:
                sock.close()
            assert len(answers) == len(socks), f"{len(answers)} of {len(socks)} cut off"
            assert all(a.startswith(b"HTTP/1.1 408") for a in answers.values()), answers
            assert took < 5, took

            # A body that pauses: headers promise 100 bytes, 10 arrive, then nothing.
            sock = socket.create_connection((host, port))
            sock.sendall(b"POST /api/v1/artifacts HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                         b'{"kind": ')
            data, took = _read_until_closed(sock, 6)
            sock.close()
            assert data.startswith(b"HTTP/1.1 408"), data
            assert b'"request_timeout"' in data and took < 4

            # A body that trickles a byte every 0.5 s: the 3 s deadline cuts it off.
            sock = socket.create_connection((host, port))
            sock.sendall(b"POST /api/v1/artifacts HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            started = time.monotonic()
            sock.settimeout(0.5)
            data = b""
            while time.monotonic() - started < 8:
                try:
                    sock.send(b" ")
                    data += sock.recv(65536)
                    if data:
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
            took = time.monotonic() - started
            sock.close()
            assert data.startswith(b"HTTP/1.1 408"), data
            assert 2.5 < took < 6, took

            ok = httpx.post(f"{server.base_url}/api/v1/artifacts",
                            json={"kind": "note", "content": "fine"}, timeout=10)
            assert ok.status_code == 201, ok.text
        finally:
            server.stop()
