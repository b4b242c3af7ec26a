"""GraphQL reads: nested walks without N+1, connections with the REST filters, traversal,
provenance chains, lineage, and the limits and error codes that keep bad queries out."""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from mimir.config import Settings

NESTED = """
query Walk($n: Int!) {
  artifacts(first: $n, filter: {source: "nplus1"}) {
    edges { node { title versions { versionNumber spans { text
      citedBy { model target { __typename ... on Intent { statement } } } } } } }
  }
}"""


def seed_walk(conninfo: str, *, artifacts: int, versions: int = 2, spans: int = 3) -> None:
    """Artifacts x versions x spans, each span cited by provenance of its own intent."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        for a in range(artifacts):
            artifact_id = conn.execute(
                "INSERT INTO artifacts (artifact_type, title, source) VALUES ('note', %s, 'nplus1') RETURNING id",
                (f"artifact {a}",)).fetchone()[0]
            for v in range(1, versions + 1):
                content = f"version {v} of artifact {a}: " + "lorem ipsum " * 5
                version_id = conn.execute(
                    "INSERT INTO artifact_versions (artifact_id, version_number, content, content_hash)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (artifact_id, v, content, hashlib.sha256(content.encode()).hexdigest())).fetchone()[0]
                for s in range(spans):
                    span_id = conn.execute(
                        "INSERT INTO spans (artifact_version_id, start_offset, end_offset) VALUES (%s, %s, %s)"
                        " RETURNING id", (version_id, s, s + 5)).fetchone()[0]
                    intent_id = conn.execute("INSERT INTO intents (statement) VALUES (%s) RETURNING id",
                                             (f"intent {a}.{v}.{s}",)).fetchone()[0]
                    prov_id = conn.execute(
                        "INSERT INTO provenance (target_type, target_id, model_id) VALUES ('intent', %s, 'm')"
                        " RETURNING id", (intent_id,)).fetchone()[0]
                    conn.execute("INSERT INTO provenance_evidence (provenance_id, span_id) VALUES (%s, %s)",
                                 (prov_id, span_id))


@pytest.fixture
def statements(monkeypatch):
    """Counts every SQL statement sent through psycopg's async cursors."""
    sent: list[str] = []
    original = psycopg.AsyncCursor.execute

    async def counting(self, query, params=None, **kwargs):
        text = query if isinstance(query, str) else query.as_string(self) if hasattr(query, "as_string") else str(query)
        # The per-request API-key check is one constant statement outside GraphQL.
        if str(text).strip() and "api_keys" not in str(text):
            sent.append(str(text))
        return await original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counting)
    return sent


async def gql(client, query: str, **variables):
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


class TestNoNPlusOne:
    async def test_statement_count_does_not_grow_with_rows(self, client, db_conninfo, statements):
        """50 artifacts -> versions -> spans -> citedBy -> target run as many statements as 5,
        one per nesting level."""
        seed_walk(db_conninfo, artifacts=50)
        await gql(client, "{ __typename }")  # warm the pool
        statements.clear()
        small = await gql(client, NESTED, n=5)
        count_small = len(statements)
        statements.clear()
        large = await gql(client, NESTED, n=50)
        count_large = len(statements)
        assert "errors" not in large and "errors" not in small
        edges = large["data"]["artifacts"]["edges"]
        assert len(edges) == 50
        spans = [s for e in edges for v in e["node"]["versions"] for s in v["spans"]]
        assert len(spans) == 50 * 2 * 3
        assert all(s["citedBy"][0]["target"]["__typename"] == "Intent" for s in spans)
        assert count_small == count_large
        # list + versions + spans (with their text) + citing provenance + intents
        assert count_large <= 5, statements


class TestConnections:
    async def test_filters_and_cursor_pages(self, client):
        """The REST filters work as a `filter` object; endCursor pages on."""
        for i in range(3):
            await client.post("/api/v1/artifacts", json={"kind": "document", "content": f"d{i}",
                                                         "metadata": {"project": "apollo"}})
        await client.post("/api/v1/artifacts", json={"kind": "note", "content": "n"})
        query = """query($after: String) { artifacts(first: 2, after: $after,
                   filter: {kind: "document", metadata__project: "apollo"}) {
                   edges { node { kind } } pageInfo { hasNextPage endCursor } } }"""
        first = (await gql(client, query))["data"]["artifacts"]
        assert [e["node"]["kind"] for e in first["edges"]] == ["DOCUMENT", "DOCUMENT"]
        assert first["pageInfo"]["hasNextPage"] is True
        second = (await gql(client, query, after=first["pageInfo"]["endCursor"]))["data"]["artifacts"]
        assert len(second["edges"]) == 1 and second["pageInfo"]["hasNextPage"] is False

    @pytest.mark.parametrize("query, code", [
        ('{ artifacts(first: 500) { edges { cursor } } }', "invalid"),
        ('{ artifacts(first: 0) { edges { cursor } } }', "invalid"),
        ('{ artifacts(after: "tampered.000") { edges { cursor } } }', "invalid"),
        ('{ artifacts(filter: {colour: "red"}) { edges { cursor } } }', "invalid"),
        ('{ intents(filter: {status: "maybe"}) { edges { cursor } } }', "invalid"),
        ('{ artifact(id: "not-a-uuid") { id } }', "invalid_query"),
        ('{ artifact(id: "00000000-0000-0000-0000-000000000000") { id nope } }', "invalid_query"),
        ('{ traverse(start: {type: ARTIFACT, id: "00000000-0000-0000-0000-000000000000"}) { truncated } }',
         "not_found"),
    ])
    async def test_bad_input_has_a_code(self, client, query, code):
        """Bad ids, enum values, cursors, caps and filters give an error code, never a 500."""
        body = await gql(client, query)
        assert body["errors"][0]["extensions"]["code"] == code, body
        assert "Traceback" not in str(body)


class TestWalks:
    async def test_provenance_chain_follows_evidence_to_artifacts(self, client, db_conninfo):
        """provenanceChain goes from a decision to the span it cites, that span's artifact
        version, and on to how that version itself was made."""
        artifact = (await client.post(
            "/api/v1/artifacts", json={"kind": "conversation", "content": "we will ship friday",
                                       "title": "standup"},
            headers={"X-Provenance-Model": "whisper-1"})).json()
        version_id = artifact["versions"][0]["id"]
        span = (await client.post("/api/v1/spans", json={
            "version_id": version_id, "start_offset": 8, "end_offset": 19})).json()
        with psycopg.connect(db_conninfo, autocommit=True) as conn:
            conn.execute("INSERT INTO provenance (target_type, target_id, model_id) "
                         "VALUES ('artifact_version', %s, 'transcriber')", (version_id,))
        decision = (await client.post("/api/v1/decisions", json={
            "statement": "Ship on Friday", "provenance": {"model": "gpt-x", "evidence_span_ids": [span["id"]]}})).json()
        body = await gql(client, """query($id: UUID!) { provenanceChain(target: {type: DECISION, id: $id}, maxDepth: 2) {
            depth provenance { model evidence { text version { versionNumber artifact { title } } } }
            target { __typename } } }""", id=decision["id"])
        steps = body["data"]["provenanceChain"]
        assert steps[0]["depth"] == 0 and steps[0]["provenance"]["model"] == "gpt-x"
        assert steps[0]["provenance"]["evidence"][0]["text"] == "ship friday"
        assert steps[0]["provenance"]["evidence"][0]["version"]["artifact"]["title"] == "standup"
        deeper = {(s["depth"], s["provenance"]["model"], s["target"]["__typename"]) for s in steps[1:]}
        assert deeper == {(1, "transcriber", "ArtifactVersion"), (1, "whisper-1", "Artifact")}

    async def test_lineage_and_supersession_both_ways(self, client):
        """A decision's lineage is the whole chain, and supersedes/supersededBy walk it."""
        first = (await client.post("/api/v1/decisions", json={"statement": "Use MySQL"})).json()
        second = (await client.patch(f"/api/v1/decisions/{first['id']}", json={
            "supersede_with": {"statement": "Use PostgreSQL"}})).json()["current"]
        body = await gql(client, """query($id: UUID!) { decision(id: $id) { statement
            supersedes { statement supersededBy { statement } } lineage { statement status } } }""",
                         id=second["id"])
        decision = body["data"]["decision"]
        assert decision["supersedes"]["statement"] == "Use MySQL"
        assert decision["supersedes"]["supersededBy"]["statement"] == "Use PostgreSQL"
        assert [d["statement"] for d in decision["lineage"]] == ["Use MySQL", "Use PostgreSQL"]
        assert [d["status"] for d in decision["lineage"]] == ["SUPERSEDED", "ACTIVE"]

    async def test_traverse_and_relation_union(self, client, db_conninfo):
        """traverse returns paths; a relation's ends resolve through the Entity union."""
        with psycopg.connect(db_conninfo, autocommit=True) as conn:
            a, b, c = [conn.execute("INSERT INTO intents (statement) VALUES (%s) RETURNING id",
                                    (name,)).fetchone()[0] for name in "abc"]
            for src, dst in ((a, b), (b, c)):
                conn.execute("INSERT INTO relations (source_type, source_id, relation_type, target_type,"
                             " target_id) VALUES ('intent', %s, 'leads_to', 'intent', %s)", (src, dst))
        body = await gql(client, """query($id: UUID!) {
            traverse(start: {type: INTENT, id: $id}, maxDepth: 2) { truncated
              paths { depth entities { ... on Intent { statement } } } }
            intent(id: $id) { relations(direction: OUT) { relationType target { ... on Intent { statement } } } } }""",
                         id=str(a))
        paths = body["data"]["traverse"]["paths"]
        assert [[e["statement"] for e in p["entities"]] for p in paths] == [["a", "b"], ["a", "b", "c"]]
        assert body["data"]["intent"]["relations"] == [{"relationType": "leads_to", "target": {"statement": "b"}}]


class TestLimits:
    async def test_depth_limit_names_the_limit(self, client):
        """A query nested deeper than the maximum depth is refused with a message saying so."""
        deep = "{ artifacts { edges { node { versions { artifact { versions { artifact { versions { artifact { versions { artifact { id } } } } } } } } } } } }"
        body = await gql(client, deep)
        assert body["data"] is None
        assert "depth" in body["errors"][0]["message"].lower()
        assert body["errors"][0]["extensions"]["code"] == "invalid_query"

    async def test_alias_limit(self, client):
        """Too many aliases is refused."""
        many = "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"
        body = await gql(client, many)
        assert "alias" in body["errors"][0]["message"].lower()

    async def test_token_limit(self, client):
        """A query with too many tokens is refused before it is executed."""
        huge = "{ " + " ".join("__typename" for _ in range(3000)) + " }"
        body = await gql(client, huge)
        assert "token" in body["errors"][0]["message"].lower()

    async def test_introspection_and_graphiql_can_be_switched_off(self, db_conninfo):
        """With introspection and GraphiQL off, __schema is refused and GET /graphql is not a page."""
        import httpx

        from mimir.app import create_app
        from mimir.db.lifecycle import PreparedDatabase

        settings = Settings(_env_file=None, MIMIR_GRAPHQL_INTROSPECTION="false", MIMIR_GRAPHIQL="false")
        app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            body = (await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})).json()
            page = await http.get("/graphql", headers={"Accept": "text/html"})
        assert body.get("data") is None and "introspection" in body["errors"][0]["message"].lower()
        assert page.status_code != 200 or "graphiql" not in page.text.lower()

    async def test_graphiql_served_by_default(self, client):
        """In development GraphiQL is served at /graphql."""
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
