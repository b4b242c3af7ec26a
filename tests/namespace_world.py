"""Two namespaces with overlapping content, for the isolation tests (issue 16).

`ns-a` and `ns-b` hold the same texts under the same sources and external ids, the same
intent group names, relations, provenance with evidence, a superseded decision and
vectors written through the embeddings API. Each namespace also has a marker word
(`alphamarkerq`, `bravomarkerq`) in titles, metadata and one note, so a row of one
namespace in a response meant for the other shows up either by its id or by the marker.

Three keys: a write key for each namespace and an admin key. One database and two apps
(compiled GraphQL reads on and off) serve a whole test module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from mimir.app import create_app
from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from mimir.graphql.fastpath import CompiledReads

A, B = "ns-a", "ns-b"
MARKERS = {A: "alphamarkerq", B: "bravomarkerq"}
SPACE = "ns-space"
SHARED_TEXTS = [
    "The weekly sync moves to Thursday; ship the importer on Friday.",
    "Zoë asked whether the importer keeps raw notes — it does, for audit.",
    "user: when do we ship?\nassistant: the importer ships on Friday after review.",
]
KINDS = ["note", "document", "conversation"]


class FakeProvider:
    """A query embedder for hybrid search and the context endpoint: every query is the
    same vector (the stored vectors decide the ranking)."""

    name = "fake"
    model = "fake-3"
    dimensions = 3

    async def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.2, 0.0]


def app_settings(tmp_path, compiled: bool) -> Settings:
    return Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"), MIMIR_WORKER="off",
                    MIMIR_EMBEDDING_PROVIDER="none", MIMIR_GRAPHQL_COMPILED_READS=compiled)


@dataclass
class Namespace:
    """What one namespace was seeded with: ids by kind, and its key."""

    name: str
    key: str = ""
    ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def marker(self) -> str:
        return MARKERS[self.name]

    def add(self, kind: str, row_id: str) -> str:
        self.ids.setdefault(kind, []).append(row_id)
        return row_id

    def all_ids(self) -> set[str]:
        return {i for ids in self.ids.values() for i in ids}

    def first(self, kind: str) -> str:
        return self.ids[kind][0]


@dataclass
class World:
    fast: httpx.AsyncClient  # compiled GraphQL reads on
    plain: httpx.AsyncClient  # compiled reads off: every GraphQL request goes to Strawberry
    reads: CompiledReads
    apps: tuple[Any, Any]
    admin_key: str
    spaces: dict[str, Namespace]

    def headers(self, key: str, namespace: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {key}"}
        if namespace is not None:
            headers["X-Mimir-Namespace"] = namespace
        return headers

    def as_ns(self, name: str) -> dict[str, str]:
        """The headers of a namespace's own key (no namespace header: its default)."""
        return self.headers(self.spaces[name].key)

    def was_compiled(self, query: str, variables: dict | None = None) -> bool:
        body = {"query": query} if variables is None else {"query": query,
                                                           "variables": variables}
        return self.reads.plan(json.dumps(body).encode()) is not None

    async def graphql(self, client: httpx.AsyncClient, headers: dict[str, str], query: str,
                      variables: dict | None = None) -> httpx.Response:
        body = {"query": query} if variables is None else {"query": query,
                                                           "variables": variables}
        return await client.post("/graphql", content=json.dumps(body),
                                 headers={**headers, "content-type": "application/json"})

    def leaks(self, text: str, into: str, asked: str = "") -> list[str]:
        """What of the other namespace's rows (ids, marker) appears in `text`, a response
        given in namespace `into`; what the request itself said (`asked`: its path and
        body), an error message may echo."""
        other = self.spaces[B if into == A else A]
        found = [i for i in other.all_ids() if i in text and i not in asked]
        if other.marker in text and other.marker not in asked:
            found.append(other.marker)
        return found


def middleware(app: Any, kind: type) -> Any:
    layer = app.middleware_stack
    while not isinstance(layer, kind):
        layer = layer.app
    return layer


async def _post(client: httpx.AsyncClient, path: str, body: dict, headers: dict,
                status: tuple[int, ...] = (200, 201)) -> dict:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in status, (path, response.status_code, response.text)
    return response.json()


async def seed_namespace(client: httpx.AsyncClient, ns: Namespace) -> None:
    """The overlapping content, written with the namespace's own key."""
    headers = {"Authorization": f"Bearer {ns.key}"}
    marker = ns.marker
    artifacts = []
    for index, text in enumerate(SHARED_TEXTS):
        artifact = await _post(client, "/api/v1/artifacts", {
            "kind": KINDS[index], "content": text, "title": f"Shared {index} {marker}",
            "source": "chat", "external_id": f"conv-{index}",
            "metadata": {"owner": marker, "n": index}}, headers)
        artifacts.append(artifact)
        ns.add("artifact", artifact["id"])
        ns.add("version", artifact["versions"][0]["id"])
    edited = await _post(client, f"/api/v1/artifacts/{artifacts[0]['id']}/versions",
                         {"content": SHARED_TEXTS[0] + " (edited)"}, headers)
    ns.add("version", edited["id"])
    note = await _post(client, "/api/v1/artifacts", {
        "kind": "note", "content": f"Only here: {marker} notes about the weekly sync.",
        "source": "notes", "metadata": {"owner": marker}}, headers)
    ns.add("artifact", note["id"])
    ns.add("version", note["versions"][0]["id"])
    spans = []
    for artifact in artifacts:
        for start, end in ((0, 10), (4, 20)):
            span = await _post(client, "/api/v1/spans", {
                "artifact_id": artifact["id"], "version_number": 1, "start_offset": start,
                "end_offset": end, "span_type": "chunk", "label": marker}, headers)
            spans.append(span)
            ns.add("span", span["id"])
    group = await _post(client, "/api/v1/intents/groups",
                        {"name": "Cadence", "description": marker}, headers)
    ns.add("intent_group", group["id"])
    other_group = await _post(client, "/api/v1/intents/groups", {"name": "Rhythm"}, headers)
    ns.add("intent_group", other_group["id"])
    for index, statement in enumerate(("Ship the importer on Friday",
                                       f"Keep the weekly sync {marker}")):
        intent = await _post(client, "/api/v1/intents", {
            "statement": statement, "group_id": group["id"], "confidence": 0.5,
            "metadata": {"owner": marker},
            "provenance": {"model": "gpt-test", "prompt_version": "p@1",
                           "evidence_span_ids": [spans[index]["id"], spans[index + 2]["id"]]}},
            headers)
        ns.add("intent", intent["id"])
    first = await _post(client, "/api/v1/decisions", {
        "statement": "Use PostgreSQL", "rationale": f"durable {marker}", "status": "active"},
        headers)
    ns.add("decision", first["id"])
    response = await client.patch(f"/api/v1/decisions/{first['id']}", headers=headers, json={
        "supersede_with": {"statement": "Use PostgreSQL 18", "status": "active"}})
    assert response.status_code == 200, response.text
    ns.add("decision", response.json()["current"]["id"])
    intents, decisions = ns.ids["intent"], ns.ids["decision"]
    for source, target, kind in (
            (("intent", intents[0]), ("span", spans[0]["id"]), "derived_from"),
            (("artifact", artifacts[0]["id"]), ("artifact", artifacts[1]["id"]), "cites"),
            (("decision", decisions[1]), ("intent", intents[1]), "answers")):
        relation = await _post(client, "/api/v1/relations", {
            "source_type": source[0], "source_id": source[1], "relation_type": kind,
            "target_type": target[0], "target_id": target[1], "metadata": {"owner": marker}},
            headers)
        ns.add("relation", relation["id"])
    provenance = await _post(client, "/api/v1/provenance", {
        "target_type": "decision", "target_id": decisions[1], "model_id": "gpt-test",
        "metadata": {"owner": marker}, "evidence_span_ids": [spans[1]["id"]]}, headers)
    ns.add("provenance", provenance["id"])
    for kind, target in [("intent", i) for i in intents] + [("decision", d) for d in decisions]:
        listed = await client.get(f"/api/v1/provenance/{kind}/{target}", headers=headers)
        assert listed.status_code == 200, listed.text
        for item in listed.json():
            if item["id"] not in ns.ids["provenance"]:
                ns.add("provenance", item["id"])
    vectors = [{"target_type": "span", "target_id": s["id"], "vector": [1.0, 0.1 * i, 0.0]}
               for i, s in enumerate(spans)]
    vectors += [{"target_type": "intent", "target_id": i, "vector": [0.9, 0.3, 0.1]}
                for i in intents]
    vectors += [{"target_type": "decision", "target_id": d, "vector": [0.8, 0.1, 0.3]}
                for d in decisions]
    written = await _post(client, "/api/v1/embeddings", {"space": SPACE, "vectors": vectors},
                          headers)
    assert written["written"] == len(vectors)


async def build_world(conninfo: str, tmp_path) -> AsyncIterator[World]:
    """Both apps on the database at `conninfo`, seeded; yields the world, then stops them."""
    from mimir.embeddings import runtime

    database = PreparedDatabase(conninfo=conninfo)
    fast_app = create_app(app_settings(tmp_path, True), database, close_database=False)
    slow_app = create_app(app_settings(tmp_path, False), database, close_database=False)
    async with fast_app.router.lifespan_context(fast_app), \
            slow_app.router.lifespan_context(slow_app):
        fast_t = httpx.ASGITransport(app=fast_app, raise_app_exceptions=False)
        slow_t = httpx.ASGITransport(app=slow_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=fast_t, base_url="http://m") as fast, \
                httpx.AsyncClient(transport=slow_t, base_url="http://m") as plain:
            # No key exists yet: the first admin key is made without one.
            admin = await _post(plain, "/api/v1/admin/keys", {"name": "admin", "scope": "admin"},
                                {})
            admin_headers = {"Authorization": f"Bearer {admin['key']}"}
            spaces = {}
            for name in (A, B):
                await _post(plain, "/api/v1/admin/namespaces", {"name": name}, admin_headers)
                key = await _post(plain, "/api/v1/admin/keys", {
                    "name": f"{name} writer", "scope": "write", "namespaces": [name]},
                    admin_headers)
                spaces[name] = Namespace(name, key["key"])
            space = await _post(plain, "/api/v1/embeddings/spaces", {
                "name": SPACE, "model": FakeProvider.model, "dimensions": 3}, admin_headers)
            for name in (A, B):
                await seed_namespace(plain, spaces[name])
            provider = FakeProvider()
            for app in (fast_app, slow_app):
                app.state.embedding_provider = provider
                app.state.embedding_space = SPACE
            runtime._runtime = runtime.IndexingRuntime(
                settings=fast_app.state.settings, conninfo=conninfo, provider=provider,
                space=space)
            await fast.get("/health")  # builds the middleware stack
            yield World(fast, plain, middleware(fast_app, CompiledReads), (fast_app, slow_app),
                        admin["key"], spaces)
            runtime._runtime = None


__all__ = ["A", "B", "MARKERS", "SPACE", "World", "build_world"]
