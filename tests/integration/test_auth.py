"""API keys: once a key exists every endpoint but /health needs one; read keys cannot
write (REST or GraphQL); revocation takes effect at once; production refuses to start open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from mimir.auth.keys import create_key, revoke_key

MIMIR = str(Path(sys.executable).parent / "mimir")


async def _key(conninfo: str, scope: str) -> tuple[str, dict]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        return await create_key(conn, name=f"{scope} key", scope=scope)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestOpenUntilAKeyExists:
    async def test_no_key_no_auth(self, client):
        """Without keys (and without MIMIR_REQUIRE_AUTH) the API is open, as in development."""
        assert (await client.get("/api/v1/artifacts")).status_code == 200

    async def test_key_makes_auth_required(self, client, db_conninfo):
        """With a key, a request without one is a 401 naming the header; /health stays open."""
        await _key(db_conninfo, "read")
        response = await client.get("/api/v1/artifacts")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        assert (await client.get("/health")).status_code == 200
        graphql = await client.post("/graphql", json={"query": "{ __typename }"})
        assert graphql.status_code == 401
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200  # the GraphiQL page is open; its queries are not


class TestScopes:
    async def test_read_key_reads_but_cannot_write(self, client, db_conninfo):
        """A read key lists and searches, but a POST is a 403 naming the scope it needs."""
        read, _ = await _key(db_conninfo, "read")
        assert (await client.get("/api/v1/artifacts", headers=_bearer(read))).status_code == 200
        search = await client.post("/api/v1/search/text", json={"query": "x"}, headers=_bearer(read))
        assert search.status_code == 200
        write = await client.post("/api/v1/artifacts", json={"kind": "note", "content": "x"},
                                  headers=_bearer(read))
        assert write.status_code == 403
        assert write.json()["error"]["details"] == {"scope": "read", "needed": "write"}

    async def test_graphql_mutation_needs_write(self, client, db_conninfo):
        """A GraphQL mutation with a read key is refused with code `forbidden`; a query works;
        a write key may mutate."""
        read, _ = await _key(db_conninfo, "read")
        write, _ = await _key(db_conninfo, "write")
        mutation = {"query": 'mutation { createIntent(input: {statement: "s"}) { id } }'}
        refused = (await client.post("/graphql", json=mutation, headers=_bearer(read))).json()
        assert refused["errors"][0]["extensions"]["code"] == "forbidden"
        query = (await client.post("/graphql", json={"query": "{ intents { edges { cursor } } }"},
                                   headers=_bearer(read))).json()
        assert query["data"]["intents"]["edges"] == []
        done = (await client.post("/graphql", json=mutation, headers=_bearer(write))).json()
        assert done["data"]["createIntent"]["id"]

    async def test_bad_and_revoked_keys(self, client, db_conninfo):
        """An unknown key, a malformed header and a revoked key are 401s; revocation is
        immediate."""
        key, record = await _key(db_conninfo, "write")
        assert (await client.get("/api/v1/intents", headers=_bearer(key))).status_code == 200
        assert (await client.get("/api/v1/intents", headers=_bearer("mimir_nope"))).status_code == 401
        assert (await client.get("/api/v1/intents", headers={"Authorization": key})).status_code == 401
        async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True,
                                                         row_factory=dict_row) as conn:
            await revoke_key(conn, record["id"])
            await create_key(conn, name="other", scope="read")  # auth stays required
        assert (await client.get("/api/v1/intents", headers=_bearer(key))).status_code == 401

    async def test_keys_stored_hashed_and_never_logged(self, client, db_conninfo, capsys):
        """Only a hash is stored, and the key appears in no log line."""
        key, _ = await _key(db_conninfo, "read")
        await client.get("/api/v1/artifacts", headers=_bearer(key))
        with psycopg.connect(db_conninfo) as conn:
            stored = json.dumps(conn.execute("SELECT * FROM api_keys").fetchall(), default=str)
        assert key not in stored and key[len("mimir_"):] not in stored
        out = capsys.readouterr()
        assert key not in out.out + out.err


class TestProduction:
    def test_refuses_to_serve_open(self, pg_data_dir):
        """ENVIRONMENT=production with no key and no MIMIR_REQUIRE_AUTH exits with one line."""
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
        env.update(ENVIRONMENT="production", MIMIR_DATA_DIR=str(pg_data_dir / "data"),
                   MIMIR_PORT="38999", LOG_LEVEL="CRITICAL", MIMIR_WORKER="off",
                   MIMIR_EMBEDDING_PROVIDER="none")
        result = subprocess.run([MIMIR, "serve"], env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "without authentication" in lines[0], result.stderr


@pytest.mark.parametrize("method, path, needed", [
    ("GET", "/api/v1/artifacts", "read"), ("POST", "/api/v1/search/hybrid", "read"),
    ("POST", "/api/v1/artifacts", "write"), ("DELETE", "/api/v1/relations/x", "write"),
    ("PATCH", "/api/v1/intents/x", "write"),
])
def test_needed_scope(method, path, needed):
    """Which scope each kind of request needs."""
    from mimir.auth.middleware import needed_scope

    assert needed_scope(method, path) == needed


class TestRateLimit:
    def test_bucket_refills_over_time(self):
        """A caller gets `per_minute` requests in a burst, then waits; tokens come back."""
        from mimir.auth.ratelimit import RateLimiter

        limiter = RateLimiter(per_minute=3)
        assert [limiter.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
        wait = limiter.take("k", now=0.0)
        assert wait == pytest.approx(20.0)  # one token every 20 s
        assert limiter.take("other", now=0.0) == 0.0  # callers are separate
        assert limiter.take("k", now=21.0) == 0.0

    async def test_429_with_retry_after(self, db_conninfo):
        """Over the limit a key gets 429 with Retry-After, in the error shape."""
        import httpx

        from mimir.app import create_app
        from mimir.config import Settings
        from mimir.db.lifecycle import PreparedDatabase

        settings = Settings(_env_file=None, MIMIR_RATE_LIMIT_PER_MINUTE="2", MIMIR_WORKER="off")
        app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
        key, _ = await _key(db_conninfo, "read")
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            codes = [(await http.get("/api/v1/intents", headers=_bearer(key))).status_code
                     for _ in range(2)]
            limited = await http.get("/api/v1/intents", headers=_bearer(key))
        assert codes == [200, 200]
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1


class TestCompiledGraphQLReads:
    async def test_compiled_reads_need_a_key_like_every_query(self, client, db_conninfo):
        """A read that the GraphQL compiler answers is still refused without a key, served
        with a read key, and refused again as soon as that key is revoked."""
        await client.post("/api/v1/artifacts", json={"kind": "note", "content": "secret"})
        key, record = await _key(db_conninfo, "read")
        query = {"query": "{ artifacts(first: 5) { edges { node { versions { content } } } } }"}
        assert (await client.post("/graphql", json=query)).status_code == 401
        allowed = await client.post("/graphql", json=query, headers=_bearer(key))
        assert allowed.status_code == 200
        assert allowed.json()["data"]["artifacts"]["edges"][0]["node"]["versions"][0][
            "content"] == "secret"
        async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True,
                                                         row_factory=dict_row) as conn:
            await revoke_key(conn, record["id"])
        assert (await client.post("/graphql", json=query, headers=_bearer(key))).status_code == 401
