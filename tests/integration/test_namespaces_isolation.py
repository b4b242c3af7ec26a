"""Namespace isolation on the request surfaces (issue 16), a fixed list: with the key of
namespace B, nothing of namespace A can be read (404, null or empty), listed or found;
writes into A are 403; relations and provenance cannot point from B into A; an admin key
sees each namespace's own rows through the header; and underneath, a pooled connection of
the app sees only its namespace's rows whatever the SQL asks, and carries no namespace
from one checkout to the next. The world (tests/namespace_world.py) is seeded once per
module: A and B hold the same texts, sources, external ids and group names."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from mimir.db.tables import NAMESPACED
from mimir.namespaces import context as namespace_context
from mimir.search import text as text_search
from tests.namespace_world import MARKERS, SPACE, A, B, World

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUESTION = "when do we ship the importer after the weekly sync?"



def _by_id_paths(world: World, name: str) -> list[str]:
    ns = world.spaces[name]
    first = ns.first
    return [
        f"/api/v1/artifacts/{first('artifact')}",
        f"/api/v1/artifacts/{first('artifact')}/versions/1",
        f"/api/v1/artifacts/{first('artifact')}/relations",
        f"/api/v1/intents/{first('intent')}",
        f"/api/v1/intents/groups/{first('intent_group')}",
        f"/api/v1/decisions/{first('decision')}",
        f"/api/v1/decisions/{first('decision')}/lineage",
        f"/api/v1/spans/{first('span')}",
        f"/api/v1/spans?artifact_id={first('artifact')}",
        f"/api/v1/spans?artifact_version_id={first('version')}",
        f"/api/v1/relations/{first('relation')}",
        f"/api/v1/relations/traverse?from_type=intent&from_id={first('intent')}",
        f"/api/v1/relations?source_id={first('intent')}",
        f"/api/v1/provenance/intent/{first('intent')}",
        f"/api/v1/provenance/decision/{ns.ids['decision'][1]}",
    ]


LIST_PATHS = ["/api/v1/artifacts", "/api/v1/artifacts?source=chat&external_id=conv-0",
              "/api/v1/intents", "/api/v1/intents/groups", "/api/v1/intents/groups?name=Cadence",
              "/api/v1/decisions", "/api/v1/decisions?status=superseded", "/api/v1/relations",
              "/api/v1/imports", "/api/v1/embeddings/spaces"]


def _items(body) -> list:
    if isinstance(body, list):
        return body
    return body.get("items", []) if isinstance(body, dict) else []


class TestRestReads:
    async def test_own_ids_are_found(self, world: World):
        """The probes below mean something: each path answers 200 with the row for the
        namespace's own key."""
        for name in (A, B):
            for path in _by_id_paths(world, name):
                response = await world.plain.get(path, headers=world.as_ns(name))
                assert response.status_code == 200, (path, response.text)
                assert not world.leaks(response.text, name), path
                assert response.json() not in ([], {"items": []}), path

    async def test_other_namespace_ids_are_not_found(self, world: World):
        for path in _by_id_paths(world, A):
            response = await world.plain.get(path, headers=world.as_ns(B))
            assert response.status_code in (200, 404), (path, response.text)
            if response.status_code == 200:
                assert _items(response.json()) == [], (path, response.text)
            assert not world.leaks(response.text, B, path), path

    async def test_lists_hold_only_own_rows(self, world: World):
        for path in LIST_PATHS:
            for name in (A, B):
                response = await world.plain.get(path, headers=world.as_ns(name))
                assert response.status_code == 200, (path, response.text)
                assert not world.leaks(response.text, name), (path, name)
        own = (await world.plain.get("/api/v1/artifacts?source=chat&external_id=conv-0",
                                     headers=world.as_ns(B))).json()["items"]
        assert [row["id"] for row in own] == [world.spaces[B].first("artifact")]

    async def test_embedding_counts_are_per_namespace(self, world: World):
        """Spaces are global, but the vectors they count are the namespace's own."""
        for name in (A, B):
            spaces = (await world.plain.get("/api/v1/embeddings/spaces",
                                            headers=world.as_ns(name))).json()
            [space] = [s for s in spaces if s["name"] == SPACE]
            ns = world.spaces[name]
            assert space["embedding_count"] == sum(len(ns.ids[k]) for k in
                                                   ("span", "intent", "decision"))


SEARCHES = [
    ("/api/v1/search/text", {"query": QUESTION}),
    ("/api/v1/search/text", {"query": QUESTION, "latest_only": False, "match": "all"}),
    ("/api/v1/search/text", {"query": QUESTION, "sources": ["chat"]}),
    ("/api/v1/search/semantic", {"vector": [1.0, 0.2, 0.0], "space": SPACE}),
    ("/api/v1/search/semantic", {"query": QUESTION}),
    ("/api/v1/search/semantic", {"query": QUESTION, "sources": ["chat"]}),
    ("/api/v1/search/hybrid", {"query": QUESTION}),
    ("/api/v1/search/hybrid", {"query": QUESTION, "fusion": "rrf", "latest_only": False}),
    ("/api/v1/context", {"query": QUESTION}),
]


def _hit_ids(path: str, body: dict) -> set[str]:
    if path == "/api/v1/context":
        return {piece["entity_id"] for piece in body["pieces"]}
    return {hit["entity_id"] for hit in body["hits"]}


class TestSearch:
    @pytest.mark.parametrize(("path", "body"), SEARCHES)
    async def test_every_mode_finds_only_own_rows(self, world: World, path, body):
        for name in (A, B):
            response = await world.plain.post(path, json=body, headers=world.as_ns(name))
            assert response.status_code == 200, response.text
            found = _hit_ids(path, response.json())
            assert found, "the search finds something in each namespace"
            assert found <= world.spaces[name].all_ids()
            assert not world.leaks(response.text, name)

    @pytest.mark.parametrize("path", ["/api/v1/search/text", "/api/v1/search/hybrid",
                                      "/api/v1/context"])
    async def test_the_other_marker_is_not_found(self, world: World, path):
        response = await world.plain.post(path, json={"query": MARKERS[A]},
                                          headers=world.as_ns(B))
        assert response.status_code == 200, response.text
        assert not world.leaks(response.text, B, MARKERS[A])
        body = response.json()
        found = _hit_ids(path, body)
        assert found <= world.spaces[B].all_ids()
        if path == "/api/v1/search/text":
            assert body["hits"] == []

    async def test_common_term_statistics_are_per_namespace(self, world: World, monkeypatch):
        """The per-process BM25 document-frequency cache holds every term here (threshold
        1): a count made in A must not be used in B. B gets one more document with the
        term, so its document frequency differs from A's; B's scores must equal the scores
        computed with an empty cache."""
        cache = text_search._COMMON_TERMS
        monkeypatch.setattr(cache, "COMMON_DF", 1)
        monkeypatch.setattr(cache, "_entries", type(cache._entries)())
        extra = await world.plain.post("/api/v1/artifacts", headers=world.as_ns(B), json={
            "kind": "note", "content": "importer importer importer", "source": "extra"})
        assert extra.status_code == 201, extra.text
        world.spaces[B].add("artifact", extra.json()["id"])
        world.spaces[B].add("version", extra.json()["versions"][0]["id"])
        query = {"query": "importer"}

        async def scores(name: str) -> dict[str, float]:
            response = await world.plain.post("/api/v1/search/text", json=query,
                                              headers=world.as_ns(name))
            assert response.status_code == 200, response.text
            return {h["entity_id"]: h["score"] for h in response.json()["hits"]}

        await scores(A)  # fills the cache in A
        after_a = await scores(B)
        cache._entries.clear()
        fresh = await scores(B)
        assert after_a == fresh
        assert {k for k, _ in cache._entries} == {B}


GRAPHQL_BY_ID = {
    "artifact": "{{ artifact(id: \"{artifact}\") {{ id title versions {{ id }} }} }}",
    "artifactVersion": "{{ artifactVersion(id: \"{version}\") {{ id content }} }}",
    "span": "{{ span(id: \"{span}\") {{ id text }} }}",
    "intent": "{{ intent(id: \"{intent}\") {{ id statement }} }}",
    "intentGroup": "{{ intentGroup(id: \"{intent_group}\") {{ id name }} }}",
    "decision": "{{ decision(id: \"{decision}\") {{ id statement }} }}",
    "relation": "{{ relation(id: \"{relation}\") {{ id relationType }} }}",
    "provenance": "{{ provenance(id: \"{provenance}\") {{ id model evidenceSpanIds }} }}",
    "entity": "{{ entity(ref: {{type: INTENT, id: \"{intent}\"}}) {{ __typename "
              "... on Intent {{ id statement }} }} }}",
}
GRAPHQL_LISTS = [
    "{ artifacts(first: 100) { edges { node { id title metadata versions { id spans "
    "{ id text citedBy { id } } } relations { id } provenance { id } } } } }",
    "{ artifacts(first: 100, filter: {source: \"chat\", external_id: \"conv-0\"}) "
    "{ edges { node { id } } } }",
    "{ intents(first: 100) { edges { node { id statement metadata group { id name } "
    "provenance { id evidence { id text } } relations(direction: BOTH) { id } } } } }",
    "{ intentGroups(first: 100) { edges { node { id name description intents { id } } } } }",
    "{ intentGroups(first: 100, filter: {name: \"Cadence\"}) { edges { node { id } } } }",
    "{ decisions(first: 100) { edges { node { id rationale supersededBy { id } "
    "supersedes { id } provenance { id } } } } }",
    "{ relations(first: 100) { edges { node { id metadata source { __typename "
    "... on Intent { id } ... on Artifact { id } ... on Decision { id } } target "
    "{ __typename ... on Span { id text } ... on Artifact { id } ... on Intent { id } } } } } }",
]
GRAPHQL_RESOLVED = [
    "{{ search(query: \"{q}\", mode: TEXT) {{ entityId snippet }} }}",
    "{{ search(query: \"{q}\", mode: SEMANTIC) {{ entityId }} }}",
    "{{ search(query: \"{q}\", mode: HYBRID) {{ entityId }} }}",
    "{{ context(query: \"{q}\") {{ searchMode pieces {{ entityId title }} }} }}",
    "{{ embeddingSpaces {{ name }} }}",
    "{{ traverse(start: {{type: INTENT, id: \"{intent}\"}}) {{ paths {{ nodes }} }} }}",
    "{{ provenanceChain(target: {{type: DECISION, id: \"{decision1}\"}}) "
    "{{ provenance {{ id }} target {{ __typename }} }} }}",
]


def _fill(world: World, template: str, name: str) -> str:
    ns = world.spaces[name]
    return template.format(q=QUESTION, decision1=ns.ids["decision"][1],
                           **{kind: ids[0] for kind, ids in ns.ids.items()})


def _ids_in(value) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("id", "entityId") and isinstance(item, str):
                found.add(item)
            found |= _ids_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= _ids_in(item)
    return found


class TestGraphQL:
    @pytest.mark.parametrize("field", sorted(GRAPHQL_BY_ID))
    @pytest.mark.parametrize("path", ["compiled", "resolvers"])
    async def test_by_id_of_the_other_namespace_is_null(self, world: World, field, path):
        client = world.fast if path == "compiled" else world.plain
        own = _fill(world, GRAPHQL_BY_ID[field], B)
        other = _fill(world, GRAPHQL_BY_ID[field], A)
        if path == "compiled" and field != "entity":
            assert world.was_compiled(other)
        mine = (await world.graphql(client, world.as_ns(B), own)).json()
        assert mine["data"][field] is not None, mine
        response = await world.graphql(client, world.as_ns(B), other)
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {field: None}}

    @pytest.mark.parametrize("query", GRAPHQL_LISTS)
    @pytest.mark.parametrize("path", ["compiled", "resolvers"])
    async def test_lists_hold_only_own_rows(self, world: World, query, path):
        client = world.fast if path == "compiled" else world.plain
        if path == "compiled":
            assert world.was_compiled(query)
        for name in (A, B):
            response = await world.graphql(client, world.as_ns(name), query)
            body = response.json()
            assert "errors" not in body, body
            ids = _ids_in(body["data"])
            assert ids and ids <= world.spaces[name].all_ids(), (name, ids)
            assert not world.leaks(response.text, name)

    @pytest.mark.parametrize("template", GRAPHQL_RESOLVED)
    async def test_search_context_and_walks_stay_in_the_namespace(self, world: World, template):
        for name in (A, B):
            own = await world.graphql(world.fast, world.as_ns(name), _fill(world, template, name))
            assert "errors" not in own.json(), own.text
            assert not world.leaks(own.text, name)
            assert _ids_in(own.json()["data"]) <= world.spaces[name].all_ids()
        asked = _fill(world, template, A)
        other = await world.graphql(world.fast, world.as_ns(B), asked)
        assert not world.leaks(other.text, B, asked), other.text


NEW_ARTIFACT = {"kind": "note", "content": "should never be written"}


class TestWrites:
    @pytest.mark.parametrize(("method", "path", "body"), [
        ("POST", "/api/v1/artifacts", NEW_ARTIFACT),
        ("POST", "/api/v1/intents", {"statement": "nope"}),
        ("POST", "/api/v1/decisions", {"statement": "nope"}),
        ("POST", "/api/v1/intents/groups", {"name": "nope"}),
        ("POST", "/graphql", {"query": "mutation { createArtifact(input: {kind: NOTE, "
                                       "content: \"nope\"}) { created } }"}),
        ("GET", "/api/v1/artifacts", None),
        ("POST", "/api/v1/search/text", {"query": "importer"}),
    ])
    async def test_a_key_cannot_name_another_namespace(self, world: World, method, path, body):
        headers = world.headers(world.spaces[B].key, A)
        response = await world.plain.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["details"]["namespace"] == A

    async def test_unknown_and_malformed_namespaces(self, world: World):
        admin = world.admin_key
        missing = await world.plain.get("/api/v1/artifacts",
                                        headers=world.headers(admin, "no-such-ns"))
        assert missing.status_code == 404, missing.text
        bad = await world.plain.get("/api/v1/artifacts", headers=world.headers(admin, "Bad NS!"))
        assert bad.status_code == 400, bad.text

    async def _counts(self, world: World) -> dict[str, dict[str, int]]:
        counts = {}
        for name in (A, B):
            headers = world.headers(world.admin_key, name)
            counts[name] = {
                path: len((await world.plain.get(path, headers=headers)).json()
                          ["items"])
                for path in ("/api/v1/relations", "/api/v1/intents", "/api/v1/intents/groups",
                             "/api/v1/decisions")}
        return counts

    async def test_links_into_the_other_namespace_are_not_found(self, world: World):
        a, b = world.spaces[A], world.spaces[B]
        before = await self._counts(world)
        attempts = [
            ("POST", "/api/v1/relations", {
                "source_type": "intent", "source_id": b.first("intent"),
                "relation_type": "cites", "target_type": "artifact",
                "target_id": a.first("artifact")}),
            ("POST", "/api/v1/relations", {
                "source_type": "artifact", "source_id": a.first("artifact"),
                "relation_type": "cites", "target_type": "artifact",
                "target_id": b.first("artifact")}),
            ("POST", "/api/v1/provenance", {
                "target_type": "intent", "target_id": b.first("intent"),
                "evidence_span_ids": [a.first("span")]}),
            ("POST", "/api/v1/provenance", {
                "target_type": "intent", "target_id": a.first("intent"),
                "evidence_span_ids": [b.first("span")]}),
            ("POST", "/api/v1/intents", {
                "statement": "grouped elsewhere", "group_id": a.first("intent_group")}),
            ("POST", "/api/v1/intents", {
                "statement": "cites elsewhere", "provenance": {
                    "model": "m", "evidence_span_ids": [a.first("span")]}}),
            ("POST", "/api/v1/spans", {"artifact_version_id": a.first("version"),
                                       "start_offset": 0, "end_offset": 3}),
            ("POST", f"/api/v1/artifacts/{a.first('artifact')}/versions",
             {"content": "appended elsewhere"}),
            ("POST", f"/api/v1/intents/groups/{b.first('intent_group')}/merge",
             {"into": a.first("intent_group")}),
            ("PATCH", f"/api/v1/decisions/{a.ids['decision'][1]}",
             {"supersede_with": {"statement": "taken over"}}),
            ("PATCH", f"/api/v1/intents/{a.first('intent')}", {"status": "accepted"}),
            ("DELETE", f"/api/v1/relations/{a.first('relation')}", None),
            ("POST", "/api/v1/embeddings", {"space": SPACE, "vectors": [
                {"target_type": "intent", "target_id": a.first("intent"),
                 "vector": [1, 0, 0]}]}),
        ]
        for method, path, body in attempts:
            response = await world.plain.request(method, path, json=body,
                                                 headers=world.as_ns(B))
            assert 400 <= response.status_code < 500, (path, body, response.text)
            assert response.status_code != 403, (path, response.text)
            assert not world.leaks(response.text, B, path + str(body)), (path, response.text)
        assert await self._counts(world) == before
        intent = (await world.plain.get(f"/api/v1/intents/{a.first('intent')}",
                                        headers=world.as_ns(A))).json()
        assert intent["status"] == "proposed"

    async def test_graphql_mutations_cannot_reach_the_other_namespace(self, world: World):
        a = world.spaces[A]
        for mutation in (
                f'mutation {{ createRelation(input: {{source: {{type: INTENT, id: '
                f'"{world.spaces[B].first("intent")}"}}, relationType: "cites", '
                f'target: {{type: ARTIFACT, id: "{a.first("artifact")}"}}}}) {{ id }} }}',
                f'mutation {{ appendVersion(artifactId: "{a.first("artifact")}", '
                f'input: {{content: "x"}}) {{ created }} }}'):
            response = await world.graphql(world.plain, world.as_ns(B), mutation)
            assert response.json().get("errors"), response.text
            assert not response.json().get("data"), response.text


class TestAdmin:
    async def test_admin_sees_each_namespace_through_the_header(self, world: World):
        for name in (A, B):
            headers = world.headers(world.admin_key, name)
            artifacts = (await world.plain.get("/api/v1/artifacts", headers=headers)).json()
            assert {row["id"] for row in artifacts["items"]} == set(world.spaces[name].ids["artifact"])
            query = GRAPHQL_LISTS[0]
            compiled = await world.graphql(world.fast, headers, query)
            assert _ids_in(compiled.json()["data"]) <= world.spaces[name].all_ids()
            assert not world.leaks(compiled.text, name)
            found = await world.plain.post("/api/v1/search/hybrid", json={"query": QUESTION},
                                           headers=headers)
            assert _hit_ids("/api/v1/search/hybrid", found.json()) <= world.spaces[name].all_ids()

    async def test_admin_without_header_works_in_default(self, world: World):
        response = await world.plain.get("/api/v1/artifacts",
                                         headers=world.headers(world.admin_key))
        assert response.json()["items"] == []


async def _table_namespaces(conn, table: str) -> dict[str, int]:
    cursor = await conn.execute(sql.SQL("SELECT namespace, count(*) AS n FROM {} GROUP BY 1")
                                .format(sql.Identifier(table)))
    return {row["namespace"]: row["n"] for row in await cursor.fetchall()}


class TestRawQueries:
    async def test_unfiltered_queries_see_only_the_namespace(self, world: World):
        """Through the app's own pool (the app role), a query with no WHERE at all returns
        only the namespace's rows, for every table under row-level security."""
        pool = world.apps[1].state.pool
        seen: dict[str, set[str]] = {}
        for name in (A, B):
            with namespace_context.use(name):
                async with pool.connection() as conn:
                    for table in [t.name for t in NAMESPACED]:
                        counts = await _table_namespaces(conn, table)
                        assert set(counts) <= {name}, (table, counts)
                        seen.setdefault(table, set()).update(counts)
        for table in ("artifacts", "artifact_versions", "spans", "intent_groups", "intents",
                      "decisions", "relations", "provenance", "provenance_evidence",
                      "embeddings", "search_postings", "search_stats"):
            assert seen[table] == {A, B}, table
        async with pool.connection() as conn:  # no namespace in force
            for table in [t.name for t in NAMESPACED]:
                assert await _table_namespaces(conn, table) == {}, table

    async def test_writes_into_another_namespace_are_refused(self, world: World):
        pool = world.apps[1].state.pool
        with namespace_context.use(A):
            async with pool.connection() as conn:
                # Each refused statement in a transaction (a savepoint in the pool's Citus
                # mode, whose checkout is one transaction), so the next ones still run.
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    async with conn.transaction():
                        await conn.execute("INSERT INTO intent_groups (name, namespace) "
                                           "VALUES ('smuggled', %s)", (B,))
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    async with conn.transaction():
                        await conn.execute("UPDATE intent_groups SET namespace = %s", (B,))
                cursor = await conn.execute("UPDATE intent_groups SET description = 'x' "
                                            "WHERE id = %s", (world.spaces[B].first("intent_group"),))
                assert cursor.rowcount == 0
                cursor = await conn.execute("DELETE FROM relations WHERE id = %s",
                                            (world.spaces[B].first("relation"),))
                assert cursor.rowcount == 0
        async with pool.connection() as conn:  # none: not even its own default
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute("INSERT INTO intent_groups (name) VALUES ('nowhere')")
            role = await (await conn.execute("SELECT current_user AS u")).fetchone()
            assert role["u"] == "mimir_app"

    async def test_a_pooled_connection_carries_no_namespace_over(self, world: World,
                                                                 namespaces_db, tmp_path):
        """One connection in the pool: a request in A, then work with no namespace on that
        same connection sees nothing; then a request in B sees only B."""
        import httpx

        from mimir.app import create_app
        from mimir.config import Settings
        from mimir.db.lifecycle import PreparedDatabase

        settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path), MIMIR_WORKER="off",
                            MIMIR_EMBEDDING_PROVIDER="none", MIMIR_DB_POOL_MIN=1,
                            MIMIR_DB_POOL_MAX=1)
        app = create_app(settings, PreparedDatabase(conninfo=namespaces_db), close_database=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://m") as http:
                pids = set()
                for name in (A, B):
                    response = await http.get("/api/v1/artifacts", headers=world.as_ns(name))
                    assert {r["id"] for r in response.json()["items"]} <= world.spaces[name].all_ids()
                    async with app.state.pool.connection() as conn:
                        row = await (await conn.execute(
                            "SELECT pg_backend_pid() AS pid, current_setting('mimir.namespace',"
                            " true) AS ns, (SELECT count(*) FROM artifacts) AS n")).fetchone()
                    pids.add(row["pid"])
                    assert (row["ns"], row["n"]) == ("", 0)
                    # A failed request in this namespace leaves nothing behind either.
                    failed = await http.post("/api/v1/relations", headers=world.as_ns(name),
                                             json={"source_type": "intent",
                                                   "source_id": world.spaces[name].first("intent"),
                                                   "relation_type": "x", "target_type": "intent",
                                                   "target_id": "00000000-0000-0000-0000-000000000000"})
                    assert failed.status_code in (404, 422), failed.text
                    async with app.state.pool.connection() as conn:
                        row = await (await conn.execute(
                            "SELECT (SELECT count(*) FROM artifacts) AS n")).fetchone()
                    assert row["n"] == 0
                assert len(pids) == 1  # the same connection every time
