"""Issue 18, GraphQL rows: cost and response-size limits (the same answer on the compiled
and the resolver path), statement timeout and work_mem, bounded caches, malformed bodies
and variables, error codes, and websockets."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from contextlib import AsyncExitStack

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from mimir.app import create_app
from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase

AMPLIFY = "{artifacts(first:200){edges{node{versions{spans{version{content}}}}}}}"
CONTENT = "lorem ipsum dolor sit amet " * 4000  # ~108 KB
SPANS = 60


def seed_history(conninfo: str, artifacts: int = 3) -> None:
    """Artifacts of one long version each, cut into many spans: every span's `version
    { content }` repeats the whole text (the amplification of row 3)."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        for a in range(artifacts):
            artifact = conn.execute("INSERT INTO artifacts (artifact_type, title, source) VALUES "
                                    "('conversation', %s, 'seed') RETURNING id",
                                    (f"chat {a}",)).fetchone()[0]
            version = conn.execute(
                "INSERT INTO artifact_versions (artifact_id, version_number, content, "
                "content_hash) VALUES (%s, 1, %s, %s) RETURNING id",
                (artifact, CONTENT, hashlib.sha256(CONTENT.encode()).hexdigest())).fetchone()[0]
            for s in range(SPANS):
                conn.execute("INSERT INTO spans (artifact_version_id, start_offset, end_offset) "
                             "VALUES (%s, %s, %s)", (version, s * 100, s * 100 + 50))


def _settings(tmp_path, **env) -> Settings:
    return Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"), MIMIR_WORKER="off",
                    MIMIR_EMBEDDING_PROVIDER="none", **env)


class Paths:
    """Two apps on one database: compiled reads on and off."""

    def __init__(self, compiled: httpx.AsyncClient, plain: httpx.AsyncClient) -> None:
        self.compiled, self.plain = compiled, plain

    async def both(self, content: bytes | str, **headers: str) -> list[httpx.Response]:
        headers = {"content-type": "application/json", **headers}
        return [await client.post("/graphql", content=content, headers=headers)
                for client in (self.compiled, self.plain)]

    async def query(self, query: str, variables: dict | None = None) -> list[httpx.Response]:
        return await self.both(json.dumps({"query": query, "variables": variables or {}}))


@pytest.fixture
async def paths_factory(db_conninfo, tmp_path):
    """Makes a Paths pair with extra settings; their lifespans end with the test."""
    async with AsyncExitStack() as stack:
        async def make(**env) -> Paths:
            database = PreparedDatabase(conninfo=db_conninfo)
            clients = []
            for compiled in (True, False):
                app = create_app(_settings(tmp_path, MIMIR_GRAPHQL_COMPILED_READS=compiled,
                                           **env), database, close_database=False)
                await stack.enter_async_context(app.router.lifespan_context(app))
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                clients.append(await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://m")))
            return Paths(*clients)

        yield make


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert body["data"] is None, body
    (error,) = body["errors"]
    return error


class TestCost:
    async def test_amplification_query_is_refused_before_running(self, paths_factory,
                                                                 db_conninfo):
        """Row 3: the 107-byte query is refused on both paths with the same error, before
        any SQL runs (so also before PostgreSQL builds anything)."""
        seed_history(db_conninfo)
        paths = await paths_factory()
        fast, slow = await paths.query(AMPLIFY)
        assert fast.status_code == slow.status_code == 200
        assert fast.content == slow.content
        error = _error(fast)
        assert error["extensions"]["code"] == "query_too_expensive"
        assert error["extensions"]["details"]["max_cost"] == 50_000_000
        # Three aliases of it: refused the same way.
        aliased = "{" + " ".join(f"a{i}:" + AMPLIFY[1:-1] for i in range(3)) + "}"
        fast, slow = await paths.query(aliased)
        assert fast.content == slow.content
        assert _error(fast)["extensions"]["code"] == "query_too_expensive"

    async def test_first_drives_the_estimate(self, paths_factory, db_conninfo):
        """Smaller pages of the same walk pass; `first` from a variable counts the same."""
        seed_history(db_conninfo, artifacts=1)
        paths = await paths_factory(MIMIR_GRAPHQL_MAX_RESPONSE_BYTES=str(64 * 1024 * 1024))
        query = "query($n:Int!){artifacts(first:$n){edges{node{versions{spans{version{id}}}}}}}"
        for n, refused in ((1, False), (200, False)):
            fast, slow = await paths.query(query, {"n": n})
            assert fast.content == slow.content
            assert ("errors" in fast.json()) is refused
        heavy = "query($n:Int!){artifacts(first:$n){edges{node{versions{spans{version{content}}}}}}}"
        fast, slow = await paths.query(heavy, {"n": 200})
        assert fast.content == slow.content
        assert _error(fast)["extensions"]["code"] == "query_too_expensive"
        fast, slow = await paths.query(heavy, {"n": 2})
        assert fast.content == slow.content and "errors" not in fast.json()


class TestResponseCap:
    async def test_over_size_response_is_refused_the_same_on_both_paths(
            self, paths_factory, db_conninfo):
        """With the cost limit out of the way, the response cap stops the amplification:
        the same error on both paths, and Python's memory stays far below the ~20 MB the
        uncapped answer takes (a ceiling that the old code broke)."""
        seed_history(db_conninfo)
        paths = await paths_factory(MIMIR_GRAPHQL_MAX_COST="1000000000000",
                                    MIMIR_GRAPHQL_MAX_RESPONSE_BYTES=str(1024 * 1024))
        query = "{artifacts(first:5){edges{node{versions{spans{version{content}}}}}}}"
        await paths.query("{ __typename }")  # warm up pools and caches
        tracemalloc.start()
        try:
            fast, slow = await paths.query(query)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert fast.content == slow.content
        error = _error(fast)
        assert error["extensions"] == {"code": "response_too_large",
                                       "details": {"max_bytes": 1024 * 1024}}
        assert peak < 12 * 1024 * 1024, peak

    async def test_under_the_cap_is_answered(self, paths_factory, db_conninfo):
        seed_history(db_conninfo, artifacts=1)
        paths = await paths_factory(MIMIR_GRAPHQL_MAX_RESPONSE_BYTES=str(1024 * 1024))
        query = "{artifacts(first:5){edges{node{versions{content spans{text}}}}}}"
        fast, slow = await paths.query(query)
        assert fast.content == slow.content and "errors" not in fast.json()
        assert len(fast.content) > 100_000

    async def test_sessions_have_timeouts_and_work_mem(self, app):
        """Every pooled connection has the statement timeout and work_mem; GraphQL reads
        run under their own, shorter timeout."""
        from mimir.graphql.context import Context

        async with app.state.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT current_setting('statement_timeout') AS t, "
                "current_setting('work_mem') AS w")).fetchone()
        assert (row["t"], row["w"]) == ("30s", "16MB")
        context = Context(app.state.pool, app.state.settings)
        async with context.reads.connection() as conn:
            row = await (await conn.execute("SHOW statement_timeout")).fetchone()
        assert row["statement_timeout"] == "10s"

    async def test_statement_timeout_cancels_a_slow_read(self, app):
        """The GraphQL read timeout really cancels a statement."""
        from mimir.graphql.context import ReadPool

        reads = ReadPool(app.state.pool, "50ms")
        with pytest.raises(psycopg.errors.QueryCanceled):
            async with reads.connection() as conn:
                await conn.execute("SELECT pg_sleep(5)")


class TestMalformed:
    async def test_non_utf8_body_is_400(self, paths_factory):
        paths = await paths_factory()
        for response in await paths.both(b'{"query": "{ __typename }", "x": "\xff\xfe"}'):
            assert response.status_code == 400, response.text
            assert "UTF-8" in response.text

    @pytest.mark.parametrize("depth", [300, 1000, 5000])
    async def test_deeply_nested_variables_are_400_on_both_paths(self, paths_factory, depth):
        """Row 9: 256-1000 deep variables were a 500 on the compiled path."""
        paths = await paths_factory()
        nested = "[" * depth + "]" * depth
        body = ('{"query": "query($f: JSON) { artifacts(first: 1, filter: $f) '
                '{ edges { cursor } } }", "variables": {"f": ' + nested + "}}")
        fast, slow = await paths.both(body)
        assert fast.status_code == slow.status_code == 400, (fast.text, slow.text)
        assert fast.content == slow.content

    async def test_lone_surrogate_is_invalid_with_a_code(self, paths_factory):
        paths = await paths_factory()
        query = ("mutation($c: String!) { createArtifact(input: {kind: NOTE, content: $c}) "
                 "{ created } }")
        fast, slow = await paths.query(query, {"c": "bad \ud800 text"})
        for response in (fast, slow):
            assert response.status_code == 200
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] == "invalid", error

    async def test_unknown_fragment_has_a_code(self, paths_factory):
        """Row 11: `{"message":"'Z'"}` without a code before."""
        paths = await paths_factory()
        fast, slow = await paths.query("{ artifacts(first: 1) { edges { node { ...Z } } } }")
        assert fast.content == slow.content
        error = _error(fast)
        assert error["extensions"]["code"] == "invalid_query"
        assert "Unknown fragment 'Z'" in error["message"]

    async def test_no_suggestions_without_introspection(self, paths_factory):
        paths = await paths_factory(MIMIR_GRAPHQL_INTROSPECTION="false")
        for query in ("{ artifacts(first: 1) { edges { node { titl } } } }",
                      "{ artifactz(first: 1) { edges { cursor } } }",
                      "query($d: Direction!) { artifacts(first: 1) { edges { node { "
                      "relations(direction: $d) { id } } } } }"):
            for response in await paths.query(query, {"d": "OUTT"}):
                errors = response.json()["errors"]
                assert errors and all(e["extensions"]["code"] for e in errors)
                assert "Did you mean" not in response.text, response.text

    async def test_suggestions_kept_with_introspection(self, paths_factory):
        paths = await paths_factory()
        fast, slow = await paths.query("{ artifacts(first: 1) { edges { node { titl } } } }")
        assert "Did you mean" in fast.text and fast.content == slow.content

    @pytest.mark.parametrize("query", [
        "{ artifacts(first: 1) { edges { node { ...Z } } } } fragment Z on Artifact { ...Z }",
        "query A { __typename } query A { __typename }",
        "{ nope }",
        "{",
        "{ artifact(id: 3) { id } }",
    ])
    async def test_every_error_has_a_code(self, paths_factory, query):
        paths = await paths_factory()
        for response in await paths.query(query):
            errors = response.json()["errors"]
            assert errors and all(e.get("extensions", {}).get("code") for e in errors), errors


class TestWebsockets:
    @pytest.mark.parametrize("require_auth", ["true", "false"])
    def test_websocket_is_refused(self, db_conninfo, tmp_path, require_auth):
        """Row 8: a websocket to /graphql without a key reached the app. Mímir serves
        nothing over websockets (no subscriptions): every one is refused."""
        settings = _settings(tmp_path, MIMIR_REQUIRE_AUTH=require_auth)
        app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
        with TestClient(app) as client:
            for protocol in ("graphql-transport-ws", "graphql-ws"):
                with pytest.raises(WebSocketDisconnect) as refused, \
                        client.websocket_connect("/graphql", subprotocols=[protocol]):
                    pass
                assert refused.value.code == 1008
            assert client.post("/graphql", json={"query": "{ __typename }"}).status_code in (
                200, 401)
