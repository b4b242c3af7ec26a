"""SQL injection attempts through filters, sparse fields, cursors, search and GraphQL change
nothing and never cause a 500: every value is bound, every identifier comes from an
allow-list."""

from __future__ import annotations

import psycopg
import pytest

from tests.factories import make_artifact

PAYLOADS = [
    "' OR '1'='1",
    "x'); DROP TABLE artifacts; --",
    "1; SELECT pg_sleep(3); --",
    '"; DELETE FROM artifact_versions; --',
    "%' UNION SELECT content FROM artifact_versions --",
    "\\'; TRUNCATE spans; --",
]

LIST_PARAMS = [
    ("/api/v1/artifacts", "title__icontains"), ("/api/v1/artifacts", "source"),
    ("/api/v1/artifacts", "metadata__project"), ("/api/v1/artifacts", "metadata__contains"),
    ("/api/v1/artifacts", "kind"), ("/api/v1/artifacts", "created_at__gte"),
    ("/api/v1/artifacts", "fields"), ("/api/v1/artifacts", "cursor"),
    ("/api/v1/artifacts", "title__in"), ("/api/v1/intents", "statement__icontains"),
    ("/api/v1/intents", "status"), ("/api/v1/decisions", "statement__icontains"),
    ("/api/v1/relations", "relation_type"), ("/api/v1/artifacts", "x' OR 1=1 --"),
]


def _counts(conninfo: str) -> tuple:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM artifacts), "
                            "(SELECT count(*) FROM artifact_versions)").fetchone()


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_list_parameters(client, db_conninfo, payload):
    """Each payload in each filter, field list and cursor: 200 with nothing matched, or a
    4xx in the error shape; the data is unchanged."""
    await make_artifact(client, title="kept", metadata={"project": "p"})
    before = _counts(db_conninfo)
    for path, param in LIST_PARAMS:
        response = await client.get(path, params={param: payload})
        assert response.status_code in (200, 422), (path, param, response.text)
        if response.status_code == 200:
            assert response.json()["items"] == [], (path, param)
        else:
            assert response.json()["error"]["code"] == "invalid"
    assert _counts(db_conninfo) == before


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_search_and_graphql(client, db_conninfo, payload):
    """Payloads as search queries, languages and GraphQL filter values do no harm."""
    await make_artifact(client, title="kept")
    before = _counts(db_conninfo)
    text = await client.post("/api/v1/search/text", json={"query": payload})
    assert text.status_code == 200
    language = await client.post("/api/v1/search/text", json={"query": "x", "language": payload})
    assert language.status_code == 422
    graphql = await client.post("/graphql", json={
        "query": "query($f: JSON) { artifacts(filter: $f) { edges { cursor } } }",
        "variables": {"f": {"title__icontains": payload, "metadata__k": payload}}})
    assert graphql.status_code == 200 and graphql.json()["data"]["artifacts"]["edges"] == []
    assert _counts(db_conninfo) == before
