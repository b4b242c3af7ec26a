"""Generated probes of namespace isolation (issue 16): hypothesis draws an endpoint (REST
reads, searches, GraphQL fields on both paths), filters and ids or words of namespace A,
and asks with namespace B's key. Whatever is drawn, the response never holds a row of A:
none of A's ids (beyond those the request itself named) and never A's marker word, which
is in the titles, metadata, notes and statements of A only. The world is
tests/namespace_world.py's, seeded once for the module."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.namespace_world import MARKERS, SPACE, A, B, World

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = 150
PROBE_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                          derandomize=True, suppress_health_check=list(HealthCheck))
KINDS = ["artifact", "version", "span", "intent", "intent_group", "decision", "relation",
         "provenance"]
ENTITY_TYPES = {"artifact": "artifact", "version": "artifact_version", "span": "span",
                "intent": "intent", "intent_group": "intent_group", "decision": "decision",
                "relation": "relation"}
WORDS = ["importer", "weekly", "sync", "friday", "thursday", "ship", "postgresql", "notes",
         "zoë", "review", MARKERS[A], MARKERS[B], "audit", "raw"]



def collect(strategy: st.SearchStrategy) -> list[Any]:
    """Drawn examples of a strategy (hypothesis runs synchronously; the requests are then
    sent on the test's event loop)."""
    drawn: list[Any] = []

    @PROBE_SETTINGS
    @given(strategy)
    def record(example: Any) -> None:
        drawn.append(example)

    record()
    return drawn


def _pick(world: World, kind: str, index: int) -> str:
    ids = world.spaces[A].ids[kind]
    return ids[index % len(ids)]


# REST reads ---------------------------------------------------------------------------

def _filters() -> st.SearchStrategy[dict[str, str]]:
    values = st.sampled_from([
        ("source", "chat"), ("source", "notes"), ("external_id", "conv-0"),
        ("external_id", "conv-2"), ("name", "Cadence"), ("name", "Rhythm"),
        ("status", "superseded"), ("status", "active"), ("status", "proposed"),
        ("metadata__owner", MARKERS[A]), ("title__icontains", MARKERS[A][:6]),
        ("statement__icontains", "ship"), ("relation_type", "cites"),
        ("created_at__gte", "2000-01-01T00:00:00Z"), ("limit", "1"), ("limit", "100"),
        ("kind", "note"), ("span_type", "chunk"), ("label", MARKERS[A])])
    return st.lists(values, max_size=3, unique_by=lambda kv: kv[0]).map(dict)


REST_TEMPLATES = [
    ("/api/v1/artifacts/{artifact}", []), ("/api/v1/artifacts/{artifact}/versions/{n}", []),
    ("/api/v1/artifacts/{artifact}/relations", []), ("/api/v1/intents/{intent}", []),
    ("/api/v1/intents/groups/{intent_group}", []), ("/api/v1/decisions/{decision}", []),
    ("/api/v1/decisions/{decision}/lineage", []), ("/api/v1/spans/{span}", []),
    ("/api/v1/relations/{relation}", []), ("/api/v1/provenance/{etype}/{any}", []),
    ("/api/v1/artifacts", ["id"]), ("/api/v1/intents", ["id"]),
    ("/api/v1/intents/groups", ["id"]), ("/api/v1/decisions", ["id", "superseded_by_id"]),
    ("/api/v1/relations", ["source_id", "target_id", "id"]),
    ("/api/v1/spans", ["artifact_id", "artifact_version_id"]),
    ("/api/v1/relations/traverse", ["from_id"]),
]
ID_PARAM_KIND = {"id": None, "source_id": None, "target_id": None, "superseded_by_id": "decision",
                 "artifact_id": "artifact", "artifact_version_id": "version", "from_id": None}


@st.composite
def rest_probe(draw) -> dict[str, Any]:
    template, id_params = draw(st.sampled_from(REST_TEMPLATES))
    kind = draw(st.sampled_from([k for k in KINDS if k in ENTITY_TYPES]))
    probe = {"template": template, "kind": kind, "index": draw(st.integers(0, 5)),
             "n": draw(st.integers(1, 3)), "filters": draw(_filters()), "ids": {}}
    for param in id_params:
        if draw(st.booleans()):
            probe["ids"][param] = ID_PARAM_KIND[param] or kind
    if template.endswith("/traverse"):
        probe["ids"]["from_id"] = kind
        probe["filters"] = {"from_type": ENTITY_TYPES[kind]}
    return probe


def _rest_path(world: World, probe: dict[str, Any]) -> str:
    values = {name: _pick(world, name, probe["index"]) for name in KINDS}
    path = probe["template"].format(n=probe["n"], etype=ENTITY_TYPES[probe["kind"]],
                                    any=values[probe["kind"]], **values)
    params = dict(probe["filters"])
    for param, kind in probe["ids"].items():
        params[param] = _pick(world, kind, probe["index"])
    return path + ("?" + urlencode(params) if params else "")


async def test_rest_reads_never_show_the_other_namespace(world: World):
    answered = 0
    for probe in collect(rest_probe()):
        path = _rest_path(world, probe)
        response = await world.plain.get(path, headers=world.as_ns(B))
        assert response.status_code < 500, (path, response.text)
        assert not world.leaks(response.text, B, path), (path, response.text)
        answered += response.status_code in (200, 404)
    assert answered > EXAMPLES // 3  # many probes were answered, not refused as malformed


# Searches -----------------------------------------------------------------------------

@st.composite
def search_probe(draw) -> tuple[str, dict[str, Any]]:
    path = draw(st.sampled_from(["/api/v1/search/text", "/api/v1/search/semantic",
                                 "/api/v1/search/hybrid", "/api/v1/context"]))
    query = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)))
    body: dict[str, Any] = {"query": query}
    if draw(st.booleans()):
        body["sources"] = draw(st.lists(st.sampled_from(["chat", "notes", "extra"]),
                                        min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        body["entity_types"] = draw(st.lists(
            st.sampled_from(["artifact_version", "intent", "decision"]), min_size=1,
            max_size=3, unique=True))
        if "sources" in body:
            body["entity_types"] = ["artifact_version"]
    if draw(st.booleans()):
        body["latest_only"] = draw(st.booleans())
    if path != "/api/v1/context":
        if draw(st.booleans()):
            body["limit"] = draw(st.integers(1, 50))
        if path == "/api/v1/search/semantic" and draw(st.booleans()):
            body.pop("query")
            body["vector"] = draw(st.lists(st.floats(-1, 1, allow_nan=False).filter(
                lambda x: abs(x) > 1e-3), min_size=3, max_size=3))
            body["space"] = SPACE
        elif path != "/api/v1/search/semantic" and draw(st.booleans()):
            body["match"] = draw(st.sampled_from(["auto", "all", "any"]))
    return path, body


def _found(path: str, body: dict) -> set[str]:
    if path == "/api/v1/context":
        return {piece["entity_id"] for piece in body["pieces"]}
    return {hit["entity_id"] for hit in body["hits"]}


async def test_searches_never_find_the_other_namespace(world: World):
    nonempty = 0
    for path, body in collect(search_probe()):
        response = await world.plain.post(path, json=body, headers=world.as_ns(B))
        assert response.status_code == 200, (path, body, response.text)
        found = _found(path, response.json())
        assert found <= world.spaces[B].all_ids(), (path, body)
        assert not world.leaks(response.text, B, json.dumps(body)), (path, body, response.text)
        nonempty += bool(found)
    assert nonempty > EXAMPLES // 4


# GraphQL ------------------------------------------------------------------------------

GRAPHQL_TEMPLATES = [
    'artifact(id: "{artifact}") {{ id title metadata versions {{ id content spans {{ id text }} }} }}',
    'artifactVersion(id: "{version}") {{ id content spans {{ id }} }}',
    'span(id: "{span}") {{ id text citedBy {{ id }} }}',
    'intent(id: "{intent}") {{ id statement metadata provenance {{ id }} }}',
    'intentGroup(id: "{intent_group}") {{ id name description intents {{ id }} }}',
    'decision(id: "{decision}") {{ id rationale supersededBy {{ id }} supersedes {{ id }} }}',
    'relation(id: "{relation}") {{ id metadata }}',
    'provenance(id: "{provenance}") {{ id evidenceSpanIds evidence {{ id text }} }}',
    'entity(ref: {{type: {etype}, id: "{any}"}}) {{ __typename }}',
    'artifacts(first: {n}, filter: {filter}) {{ edges {{ node {{ id title metadata '
    'relations {{ id }} provenance {{ id }} }} }} }}',
    'intents(first: {n}, filter: {filter}) {{ edges {{ node {{ id statement group {{ id }} }} }} }}',
    'intentGroups(first: {n}, filter: {filter}) {{ edges {{ node {{ id description }} }} }}',
    'decisions(first: {n}, filter: {filter}) {{ edges {{ node {{ id rationale }} }} }}',
    'relations(first: {n}, filter: {filter}) {{ edges {{ node {{ id metadata }} }} }}',
    'search(query: "{words}", mode: {mode}) {{ entityId title snippet }}',
    'context(query: "{words}") {{ pieces {{ entityId title }} }}',
    'traverse(start: {{type: {etype}, id: "{any}"}}) {{ paths {{ nodes }} }}',
    'provenanceChain(target: {{type: {etype}, id: "{any}"}}) {{ provenance {{ id }} }}',
]


@st.composite
def graphql_probe(draw) -> dict[str, Any]:
    fields = draw(st.lists(st.sampled_from(GRAPHQL_TEMPLATES), min_size=1, max_size=3,
                           unique=True))
    filter_pairs = draw(_filters())
    filter_pairs.pop("limit", None)
    if draw(st.booleans()):
        filter_pairs["id"] = "{artifact}"
    return {"fields": fields, "kind": draw(st.sampled_from(sorted(ENTITY_TYPES))),
            "index": draw(st.integers(0, 5)), "n": draw(st.integers(1, 100)),
            "filter": filter_pairs,
            "words": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))),
            "mode": draw(st.sampled_from(["TEXT", "SEMANTIC", "HYBRID"])),
            "compiled": draw(st.booleans())}


def _graphql_query(world: World, probe: dict[str, Any]) -> str:
    values = {name: _pick(world, name, probe["index"]) for name in KINDS}
    filter_text = json.dumps({k: v.format(**values) for k, v in probe["filter"].items()})
    # A JSON object written as a GraphQL object literal: keys unquoted.
    for key in probe["filter"]:
        filter_text = filter_text.replace(f'"{key}":', f"{key}:")
    parts = [f"f{i}: " + template.format(
        filter=filter_text, n=probe["n"], words=probe["words"], mode=probe["mode"],
        etype=ENTITY_TYPES[probe["kind"]].upper(), any=values[probe["kind"]], **values)
        for i, template in enumerate(probe["fields"])]
    return "{ " + " ".join(parts) + " }"


async def test_graphql_never_shows_the_other_namespace(world: World):
    compiled = 0
    for probe in collect(graphql_probe()):
        query = _graphql_query(world, probe)
        client = world.fast if probe["compiled"] else world.plain
        compiled += probe["compiled"] and world.was_compiled(query)
        response = await world.graphql(client, world.as_ns(B), query)
        assert response.status_code == 200, (query, response.text)
        assert not world.leaks(response.text, B, query), (query, response.text)
    assert compiled >= EXAMPLES // 20  # the compiled path was really probed
