"""Compiled GraphQL reads (src/mimir/graphql/compiler.py) against the Strawberry path: the
same request to an app with compiled reads and to one without must give the same bytes,
for a corpus of queries over every compiled field and for queries generated from the
schema. Each corpus query is also checked to have really been compiled, so the comparison
cannot pass by both answers coming from Strawberry."""

from __future__ import annotations

import json

import graphql
import httpx
import psycopg
import pytest
import pytest_asyncio
from graphql import build_schema as parse_sdl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes
from psycopg import sql

from mimir.app import create_app
from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from mimir.graphql.fastpath import CompiledReads
from tests.factories import append_version, make_artifact, make_span

# One seeded database and one pair of apps for the whole module (seeding takes seconds).
pytestmark = pytest.mark.asyncio(loop_scope="module")

# Content with combining marks, an astral emoji, right-to-left text, quotes, backslashes
# and control characters, so that offsets and JSON escaping are both tried.
TEXTS = [
    "Plain ASCII meeting notes: ship on Friday.",
    'Zoë said "naïve" café — e\u0301 (combining) and 👩‍🚀 launched; \\path\\; tab\there.',
    "שלום עולם — مرحبا بالعالم — right to left, then 日本語のテキスト.",
    "line one\nline two\r\nbell\x07 and unit separator\x1f end",
]
METADATA = [
    {},
    {"project": "apollo", "n": 3, "ratio": 0.5, "tiny": 1e-07, "exact": 1.5, "neg": -2.0,
     "big": 12345678901234567890, "huge": 1e16, "list": [1, 2.25, "x, y: z", None, True],
     "nested": {"é": {"deep": [{}, []]}}, "quote": 'he said "hi"'},
    {"unicode": "👩‍🚀 שלום", "zero": 0, "float_int": 3.0, "e15": 1234567890123456.7},
]


def _settings(tmp_path, compiled: bool) -> Settings:
    return Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"), MIMIR_WORKER="off",
                    MIMIR_EMBEDDING_PROVIDER="none", MIMIR_GRAPHQL_COMPILED_READS=compiled)


class Pair:
    """Two apps on one database: compiled reads on and off."""

    def __init__(self, compiled: httpx.AsyncClient, plain: httpx.AsyncClient,
                 reads: CompiledReads) -> None:
        self.compiled, self.plain, self.reads = compiled, plain, reads

    async def both(self, query: str, variables: dict | None = None,
                   operation_name: str | None = None) -> tuple[httpx.Response, httpx.Response]:
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name
        content = json.dumps(body)
        headers = {"content-type": "application/json"}
        fast = await self.compiled.post("/graphql", content=content, headers=headers)
        slow = await self.plain.post("/graphql", content=content, headers=headers)
        return fast, slow

    def was_compiled(self, query: str, variables: dict | None = None,
                     operation_name: str | None = None) -> bool:
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name
        return self.reads.plan(json.dumps(body).encode()) is not None


def _middleware(app, kind: type) -> object:
    layer = app.middleware_stack
    while not isinstance(layer, kind):
        layer = layer.app
    return layer


@pytest.fixture(scope="module")
def module_db(pg_server):
    name = pg_server.create_database(template=pg_server.template)
    # A zone with a half-hour offset: both paths must print the session's offset the same.
    with psycopg.connect(pg_server.admin_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET TimeZone = 'Asia/Kolkata'").format(
            sql.Identifier(name)))
    try:
        yield pg_server.conninfo(name)
    finally:
        pg_server.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(module_db, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("compiled")
    database = PreparedDatabase(conninfo=module_db)
    fast_app = create_app(_settings(tmp_path, True), database, close_database=False)
    slow_app = create_app(_settings(tmp_path, False), database, close_database=False)
    async with fast_app.router.lifespan_context(fast_app), \
            slow_app.router.lifespan_context(slow_app):
        transport = httpx.ASGITransport(app=fast_app, raise_app_exceptions=False)
        other = httpx.ASGITransport(app=slow_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://m") as fast, \
                httpx.AsyncClient(transport=other, base_url="http://m") as slow:
            await _seed(slow)
            await fast.get("/health")  # builds the middleware stack
            yield Pair(fast, slow, _middleware(fast_app, CompiledReads))


async def _post(client: httpx.AsyncClient, path: str, body: dict) -> dict:
    response = await client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _seed(client: httpx.AsyncClient) -> None:
    """Every kind of row the compiled fields read, with awkward values."""
    artifacts, spans = [], []
    for index, text in enumerate(TEXTS):
        artifact = await make_artifact(client, content=text, kind=("note", "document",
                                                                    "conversation")[index % 3],
                                       title=None if index == 2 else f"Title «{index}»",
                                       metadata=METADATA[index % len(METADATA)],
                                       version_metadata=METADATA[(index + 2) % len(METADATA)])
        artifacts.append(artifact)
        await append_version(client, artifact_id=artifact["id"], content=text + " (edited)",
                             metadata=METADATA[(index + 1) % len(METADATA)],
                             created_by=None if index % 2 else f"user «{index}» \"q\"")
        for start, end in ((0, 5), (3, 12), (0, len(text)), (7, 9)):
            spans.append(await make_span(client, artifact_id=artifact["id"], version_number=1,
                                         start_offset=start, end_offset=end, span_type="quote",
                                         label=None if start else "lead",
                                         metadata=METADATA[end % len(METADATA)]))
    group = await _post(client, "/api/v1/intents/groups", {"name": "Cadence", "metadata": METADATA[1]})
    survivor = await _post(client, "/api/v1/intents/groups", {"name": "Rhythm", "description": "kept"})
    await _post(client, f"/api/v1/intents/groups/{group['id']}/merge", {"into": survivor["id"]})
    intents = []
    for index, confidence in enumerate((None, 1.0, 0.5, 1e-05, 0.0)):
        intents.append(await _post(client, "/api/v1/intents", {
            "statement": f"Intent {index}: ship «{TEXTS[index % len(TEXTS)][:20]}»",
            "confidence": confidence, "group_id": survivor["id"] if index % 2 else None,
            "proposed_by": None if index == 3 else ("human", "gpt-4o «x»")[index % 2],
            "metadata": METADATA[index % len(METADATA)],
            "provenance": {"model": "gpt-test", "prompt_version": "p@1",
                           "evidence_span_ids": [spans[index]["id"], spans[index + 3]["id"]],
                           "parameters": METADATA[1]}}))
    first = await _post(client, "/api/v1/decisions", {"statement": "Use PostgreSQL",
                                                      "rationale": "durable", "status": "active"})
    response = await client.patch(f"/api/v1/decisions/{first['id']}", json={
        "supersede_with": {"statement": "Use PostgreSQL 18", "status": "active"}})
    assert response.status_code == 200, response.text
    for source, target, kind in (
            (("intent", intents[0]["id"]), ("span", spans[0]["id"]), "derived_from"),
            (("intent", intents[1]["id"]), ("artifact", artifacts[0]["id"]), "mentions"),
            (("artifact", artifacts[0]["id"]), ("artifact", artifacts[1]["id"]), "cites"),
            (("decision", first["id"]), ("intent", intents[2]["id"]), "answers"),
            (("artifact_version", artifacts[1]["versions"][0]["id"]),
             ("intent_group", group["id"]), "about")):
        await _post(client, "/api/v1/relations", {
            "source_type": source[0], "source_id": source[1], "relation_type": kind,
            "target_type": target[0], "target_id": target[1], "metadata": METADATA[2]})
    await _post(client, "/api/v1/embeddings/spaces", {"name": "test-space", "model": "m",
                                                      "dimensions": 3, "metadata": METADATA[1]})
    # A tombstone: both paths give its spans' text as null and show the erasure.
    await _post(client, "/api/v1/admin/erasures", {
        "scope": "version", "target": artifacts[-1]["versions"][0]["id"],
        "reason": "differential", "vacuum": False})


ARTIFACT_FIELDS = """id kind title source externalId metadata createdAt __typename
  relations { id relationType sourceType sourceId targetType targetId metadata createdAt }
  provenance { id model }"""
VERSION_FIELDS = ("id artifactId versionNumber contentHash contentLength metadata createdAt content "
                  "erasureId erasedContentLength")
SPAN_FIELDS = "id versionId artifactId startOffset endOffset spanType label metadata createdAt text"
PROVENANCE_FIELDS = """id targetType targetId model promptVersion pipelineVersion parameters
  evidenceSpanIds createdAt evidence { id text version { versionNumber } artifact { title } }
  target { __typename ... on Intent { statement confidence } ... on Artifact { title } }"""
INTENT_FIELDS = f"""id statement status groupId confidence metadata createdAt updatedAt
  group {{ id name description status mergedIntoId metadata createdAt updatedAt
           mergedInto {{ name }} intents {{ id statement }} }}
  provenance {{ {PROVENANCE_FIELDS} }} relations(direction: OUT) {{ relationType }}"""

CORPUS = [
    "{ artifacts(first: 100) { edges { node { id title versions { versionNumber "
    "spans { startOffset endOffset text } } } } } }",
    f"{{ artifacts(first: 2) {{ edges {{ cursor node {{ {ARTIFACT_FIELDS} "
    f"versions {{ {VERSION_FIELDS} spans {{ {SPAN_FIELDS} citedBy {{ id targetType }} }} }} "
    "latestVersion { versionNumber } versionAt(number: 1) { id } "
    "v9: versionAt(number: 9) { id } } } pageInfo { hasNextPage endCursor } __typename } }",
    f"{{ intents(first: 10) {{ edges {{ node {{ {INTENT_FIELDS} }} }} pageInfo {{ endCursor }} }} }}",
    "{ intentGroups(first: 5) { edges { node { name status mergedInto { name } "
    "intents { statement } } } } }",
    "{ decisions(first: 5) { edges { node { statement rationale status supersededById "
    "supersededBy { statement } supersedes { statement } provenance { id } } } } }",
    "{ relations(first: 20) { edges { node { relationType source { __typename "
    "... on Span { text } ... on Artifact { title } ... on Intent { statement } "
    "... on ArtifactVersion { versionNumber } ... on IntentGroup { name } "
    "... on Decision { statement } } target { __typename ... on Span { text } "
    "... on Artifact { title } ... on Intent { statement } ... on IntentGroup { name } } } } } }",
    "{ embeddingSpaces { id name model dimensions distance metadata createdAt } __typename }",
    "{ a: artifacts(first: 1, filter: {kind: \"note\"}) { edges { node { kind } } } "
    "b: artifacts(first: 2, filter: {kind__in: [\"document\", \"conversation\"]}) "
    "{ edges { node { kind title } } pageInfo { hasNextPage } } "
    "c: intents(first: 3, filter: {status: \"proposed\", confidence__gte: 0.5}) "
    "{ edges { node { confidence } } } }",
    "query Q($n: Int!, $all: Boolean!) { artifacts(first: $n) { edges { node { ...A "
    "versions @include(if: $all) { next { versionNumber } previous { versionNumber } "
    "artifact { id } } title @skip(if: $all) } } } } "
    "fragment A on Artifact { id ... on Linked { provenance { id } } }",
    "{ artifacts(first: 1) { edges { node { versions { spans { version { versionNumber } "
    "artifact { kind } relations(direction: IN) { id } provenance { id } } } } } } }",
    "{ intents(first: 5) { edges { node { relations(direction: BOTH, relationTypes: "
    "[\"mentions\", \"derived_from\"]) { relationType target { __typename } } "
    "r2: relations(relationTypes: []) { id } } } } }",
]


class TestSameBytes:
    @pytest.mark.parametrize("query", CORPUS)
    async def test_corpus_query_is_compiled_and_identical(self, pair, query):
        """Each corpus query takes the compiled path and answers exactly what Strawberry does."""
        variables = {"n": 3, "all": True} if "$n" in query else None
        assert pair.was_compiled(query, variables)
        fast, slow = await pair.both(query, variables)
        assert slow.status_code == 200 and "errors" not in slow.json(), slow.text
        assert fast.headers["content-type"] == slow.headers["content-type"]
        assert fast.content == slow.content

    async def test_cursor_pages_match(self, pair):
        """Walking pages with the compiled endCursor gives the same pages as Strawberry's."""
        query = ("query P($after: String) { artifacts(first: 1, after: $after) { edges { "
                 "cursor node { id } } pageInfo { hasNextPage endCursor } } }")
        after, pages = None, 0
        while True:
            fast, slow = await pair.both(query, {"after": after})
            assert pair.was_compiled(query, {"after": after})
            assert fast.content == slow.content
            info = fast.json()["data"]["artifacts"]["pageInfo"]
            pages += 1
            if not info["hasNextPage"]:
                break
            after = info["endCursor"]
        assert pages == len(TEXTS)
        # The compiled cursor is accepted by REST too (one cursor format).
        rest = await pair.plain.get("/api/v1/artifacts", params={"limit": 1, "cursor": after})
        assert rest.status_code == 200

    async def test_times_in_the_session_time_zone(self, pair):
        """Timestamps carry the session's offset (+05:30 here) on both paths."""
        query = "{ artifacts(first: 1) { edges { node { createdAt } } } }"
        fast, slow = await pair.both(query)
        assert fast.content == slow.content
        assert fast.json()["data"]["artifacts"]["edges"][0]["node"]["createdAt"].endswith("+05:30")

    async def test_by_id_and_missing(self, pair):
        """Lookups by id, including ids that do not exist, agree."""
        listing = (await pair.plain.get("/api/v1/artifacts")).json()["items"]
        ident = listing[1]["id"]
        query = (f'{{ artifact(id: "{ident}") {{ title versions {{ id }} }} '
                 'missing: artifact(id: "00000000-0000-0000-0000-000000000000") { id } '
                 'entity(ref: {type: ARTIFACT, id: "%s"}) { __typename ... on Artifact { kind } } }'
                 % ident)
        assert pair.was_compiled(query)
        fast, slow = await pair.both(query)
        assert fast.content == slow.content
        assert fast.json()["data"]["missing"] is None

    @pytest.mark.parametrize("query", [
        "{ artifacts(first: 0) { edges { cursor } } }",
        "{ artifacts(first: 5000) { edges { cursor } } }",
        '{ artifacts(first: 1, after: "garbage") { edges { cursor } } }',
        '{ artifacts(first: 1, filter: {nope: 1}) { edges { cursor } } }',
        '{ artifact(id: "not-a-uuid") { id } }',
        "{ artifacts { edges { node { nope } } } }",
        "{ search(query: \"ship\", mode: TEXT) { score } }",
        "{ decisions(first: 1) { edges { node { lineage { id } } } } }",
        "{ __schema { queryType { name } } }",
        "mutation { createArtifact(input: {kind: NOTE, content: \"x\"}) { id } }",
        "{ artifacts(first: 1) { edges { node { id } } } } { artifacts { pageInfo { hasNextPage } } }",
        "{ " + " ".join(f"a{i}: artifacts(first: 1) {{ pageInfo {{ hasNextPage }} }}"
                        for i in range(40)) + " }",
    ])
    async def test_refused_or_uncovered_queries_go_to_strawberry(self, pair, query):
        """Errors, limits, search, lineage, introspection and mutations are Strawberry's:
        not compiled, and the answer is the same status and body (request ids aside)."""
        assert not pair.was_compiled(query)
        fast, slow = await pair.both(query)
        assert fast.status_code == slow.status_code
        if "createArtifact" not in query:  # a mutation writes twice: two different ids
            assert fast.content == slow.content

    async def test_plans_are_cached_per_variables(self, pair):
        """The same document with other variables is compiled again, not served stale."""
        query = "query Q($n: Int!) { artifacts(first: $n) { edges { node { id } } } }"
        one, _ = await pair.both(query, {"n": 1})
        two, _ = await pair.both(query, {"n": 2})
        assert len(one.json()["data"]["artifacts"]["edges"]) == 1
        assert len(two.json()["data"]["artifacts"]["edges"]) == 2
        assert pair.was_compiled(query, {"n": 1}) and pair.was_compiled(query, {"n": 2})


SDL = None
# Argument values for the custom scalars: ids that exist or not, filters as null.
SCALARS = {
    "UUID": st.uuids().map(lambda u: nodes.String(str(u))),
    "JSON": st.just(graphql.NullValueNode()),
    "DateTime": st.datetimes().map(lambda d: nodes.String(d.isoformat() + "Z")),
}


def _sdl() -> str:
    global SDL
    if SDL is None:
        from pathlib import Path

        SDL = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
    return SDL


class TestGeneratedQueries:
    async def test_generated_queries_agree(self, pair):
        """Queries generated from the schema (hypothesis-graphql) give the same bytes on both
        paths, whether they compile or not; some of them must compile."""
        schema = parse_sdl(_sdl())
        queries = []

        @settings(max_examples=80, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(from_schema(schema, custom_scalars=SCALARS,
                           fields=["artifacts", "intents", "intentGroups", "decisions",
                                   "relations", "embeddingSpaces", "artifact", "span"]))
        def collect(query: str) -> None:
            queries.append(query)

        collect()
        compiled = 0
        for query in queries:
            compiled += pair.was_compiled(query)
            fast, slow = await pair.both(query)
            assert fast.status_code == slow.status_code, query
            assert fast.content == slow.content, query
        assert compiled >= len(queries) // 4, f"only {compiled} of {len(queries)} compiled"


class TestCaches:
    async def test_large_requests_are_answered_but_not_cached(self, pair):
        """A request over the cacheable size is still compiled and identical, but leaves
        nothing in the plan or document caches (memory stays bounded)."""
        padding = "x" * 70_000
        query = "query Q($f: JSON) { artifacts(first: 1, filter: $f) { edges { node { id } } } }"
        variables = {"f": {"title__icontains": padding}}
        before = (len(pair.reads.plans), len(pair.reads.documents))
        assert pair.was_compiled(query, variables)
        fast, slow = await pair.both(query, variables)
        assert fast.content == slow.content
        assert (len(pair.reads.plans), len(pair.reads.documents)) == before


# --- every compiled field and link of the read model ------------------------------------

# Argument variants of the handled fields that take arguments.
HANDLER_ARGS = {
    "versionAt": ["(number: 1)", "(number: 2)", "(number: 9)"],
    "relations": ["", "(direction: OUT)",
                  '(direction: IN, relationTypes: ["cites", "about", "derived_from"])'],
}
# Where rows of each type are found, from the query root ({} is the type's selection).
PATHS = {
    "Artifact": "artifacts(first: 10) {{ edges {{ node {{ {} }} }} }}",
    "ArtifactVersion": "artifacts(first: 10) {{ edges {{ node {{ versions {{ {} }} }} }} }}",
    "Span": "artifacts(first: 10) {{ edges {{ node {{ versions {{ spans {{ {} }} }} }} }} }}",
    "Intent": "intents(first: 10) {{ edges {{ node {{ {} }} }} }}",
    "IntentGroup": "intentGroups(first: 10) {{ edges {{ node {{ {} }} }} }}",
    "Decision": "decisions(first: 10) {{ edges {{ node {{ {} }} }} }}",
    "Relation": "relations(first: 10) {{ edges {{ node {{ {} }} }} }}",
    "Provenance": "intents(first: 10) {{ edges {{ node {{ provenance {{ {} }} }} }} }}",
    "EmbeddingSpace": "embeddingSpaces {{ {} }}",
}
# A non-null filter per root connection that several seeded rows match, and one on metadata.
FILTERS = {
    "artifacts": ['{kind__in: ["note", "document"], title__icontains: "title", '
                  'created_at__gte: "2000-01-01T00:00:00Z"}', '{metadata__project: "apollo"}'],
    "intents": ['{confidence__gte: 0, statement__icontains: "ship"}',
                '{metadata__contains: {project: "apollo"}}'],
    "intentGroups": ['{status__in: ["active", "merged"], created_at__lt: "2999-01-01T00:00:00Z"}',
                     '{name: "Cadence"}'],
    "decisions": ['{status__in: ["active", "superseded"], statement__icontains: "postgresql"}',
                  '{superseded_by_id__ne: "00000000-0000-0000-0000-000000000000"}'],
    "relations": ['{relation_type__in: ["cites", "mentions", "about", "answers"], '
                  'source_type__ne: "span"}', '{target_type: "artifact"}'],
}


def _model_schema() -> graphql.GraphQLSchema:
    return parse_sdl(_sdl())


def _selection(type_name: str, used: set[tuple[str, str]]) -> str:
    """Every compiled field of a type; links and unions with the ids (and type names) of
    what they reach, so their order and membership are compared too."""
    from mimir.entities import ENTITIES
    from mimir.graphql.model import TYPES

    model = TYPES[type_name]
    schema_type = _model_schema().get_type(type_name)
    parts = list(model.columns)
    for name in [*model.handlers, *model.links]:
        if name in model.columns or name in parts:
            continue
        parts.append(name)
        target = graphql.get_named_type(schema_type.fields[name].type)
        if isinstance(target, graphql.GraphQLScalarType):
            sub = ""
        elif isinstance(target, graphql.GraphQLUnionType):
            sub = "{ __typename " + " ".join(
                f"... on {e.graphql_type} {{ id }}" for e in ENTITIES.values()) + " }"
        else:
            sub = "{ __typename id }"
        for index, args in enumerate(HANDLER_ARGS.get(name, [""])):
            alias = f"{name}{index}: " if index else ""
            parts.append(f"{alias}{name}{args} {sub}")
        parts.remove(name)
    used.update((type_name, name) for name in
                [*model.columns, *model.handlers, *model.links])
    return " ".join(parts)


def _compiled_pairs() -> set[tuple[str, str]]:
    from mimir.graphql.model import TYPES

    return {(m.name, f) for m in TYPES.values() for f in [*m.columns, *m.handlers, *m.links]}


class TestReadModel:
    """Queries built from the read model, so each compiled field and link is compared on
    both paths, including non-null filters and `after` cursors on every root connection."""

    async def _same(self, pair: Pair, query: str, variables: dict | None = None) -> dict:
        assert pair.was_compiled(query, variables), query
        fast, slow = await pair.both(query, variables)
        assert slow.status_code == 200 and "errors" not in slow.json(), slow.text
        assert fast.content == slow.content, query
        return slow.json()["data"]

    async def test_every_compiled_field_and_link_of_every_type(self, pair):
        used: set[tuple[str, str]] = set()
        for type_name, path in PATHS.items():
            data = await self._same(pair, "{ " + path.format(_selection(type_name, used)) + " }")
            assert '"id"' in json.dumps(data), f"no {type_name} rows to compare"
        assert used == _compiled_pairs()

    async def test_lookups_by_id_and_entity(self, pair):
        """Every by-id root field and every `entity` type, on rows that exist."""
        from mimir.entities import ENTITIES
        from mimir.graphql.model import BY_ID

        data = await self._same(pair, (
            "{ artifacts(first: 1, after: null) { edges { node { id versions { id spans { id "
            "citedBy { id } } } } } } intents(first: 1) { edges { node { id group { id } } } } "
            "decisions(first: 1) { edges { node { id } } } "
            "relations(first: 1) { edges { node { id } } } }"))
        node = data["artifacts"]["edges"][0]["node"]
        ids = {"Artifact": node["id"], "ArtifactVersion": node["versions"][0]["id"],
               "Span": node["versions"][0]["spans"][0]["id"],
               "Provenance": node["versions"][0]["spans"][0]["citedBy"][0]["id"],
               "Intent": data["intents"]["edges"][0]["node"]["id"],
               "IntentGroup": data["intents"]["edges"][0]["node"]["group"] and
               data["intents"]["edges"][0]["node"]["group"]["id"],
               "Decision": data["decisions"]["edges"][0]["node"]["id"],
               "Relation": data["relations"]["edges"][0]["node"]["id"]}
        if not ids["IntentGroup"]:
            groups = await self._same(pair, "{ intentGroups(first: 1) { edges { node { id } } } }")
            ids["IntentGroup"] = groups["intentGroups"]["edges"][0]["node"]["id"]
        used: set[tuple[str, str]] = set()
        for field, type_name in BY_ID.items():
            query = f'{{ {field}(id: "{ids[type_name]}") {{ {_selection(type_name, used)} }} }}'
            assert (await self._same(pair, query))[field]["id"] == ids[type_name]
        for entity in ENTITIES.values():
            query = (f'{{ entity(ref: {{type: {entity.type.name}, id: "{ids[entity.graphql_type]}"}}) '
                     f'{{ __typename ... on {entity.graphql_type} {{ id createdAt }} }} }}')
            assert (await self._same(pair, query))["entity"]["__typename"] == entity.graphql_type

    @pytest.mark.parametrize("connection", sorted(FILTERS))
    async def test_connections_with_filters_and_after_cursors(self, pair, connection):
        """Each root connection, with each non-null filter, walked page by page with the
        `after` cursor: every page compiled and identical; the first filter spans pages."""
        from mimir.graphql.model import CONNECTIONS

        node = _selection(CONNECTIONS[connection].node, set())
        query = (f"query P($after: String) {{ {connection}(first: 1, after: $after, "
                 f"filter: %s) {{ edges {{ cursor node {{ {node} }} }} "
                 "pageInfo { hasNextPage endCursor } __typename } }")
        for index, filter_ in enumerate(FILTERS[connection]):
            after, pages = None, 0
            while True:
                data = await self._same(pair, query % filter_, {"after": after})
                info = data[connection]["pageInfo"]
                pages += 1
                if not info["hasNextPage"]:
                    break
                after = info["endCursor"]
            assert pages >= (2 if index == 0 else 1), (connection, filter_)
