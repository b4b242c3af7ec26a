"""Relations over REST: typed edges whose ends must exist, no self-loops or duplicates,
listing by either end, multi-hop traversal with a depth cap and a cycle guard, deletion
that takes dependent relations and provenance with it."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import httpx
import psycopg
import pytest

from mimir.relations import service
from mimir.relations.rest import artifact_relations_router
from tests.factories import make_artifact

MISSING = "00000000-0000-0000-0000-00000000dead"


@pytest.fixture(autouse=True)
def _artifact_relations_route(app):
    """GET /api/v1/artifacts/{id}/relations, until app.py registers its router."""
    if not any(getattr(r, "path", None) == "/api/v1/artifacts/{artifact_id}/relations"
               for r in app.routes):
        app.include_router(artifact_relations_router)


def _insert(db_conninfo: str, table: str, count: int = 1) -> list[str]:
    """Intents or decisions created directly in SQL (their APIs are written elsewhere)."""
    query = {"intents": "INSERT INTO intents (statement) VALUES ('x') RETURNING id",
             "decisions": "INSERT INTO decisions (statement) VALUES ('x') RETURNING id"}[table]
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        return [str(conn.execute(query).fetchone()[0]) for _ in range(count)]


def intents(db_conninfo: str, count: int) -> list[tuple[str, str]]:
    return [("intent", i) for i in _insert(db_conninfo, "intents", count)]


async def relate(client: httpx.AsyncClient, source: tuple[str, str], target: tuple[str, str],
                 relation_type: str = "relates_to", **fields) -> dict:
    response = await client.post("/api/v1/relations", json={
        "source_type": source[0], "source_id": source[1], "relation_type": relation_type,
        "target_type": target[0], "target_id": target[1], **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def traverse(client: httpx.AsyncClient, start: tuple[str, str], **params) -> httpx.Response:
    return await client.get("/api/v1/relations/traverse",
                            params={"from_type": start[0], "from_id": start[1], **params})


def node_paths(body: dict) -> list[list[str]]:
    """Each path as its list of node ids."""
    return [[node["id"] for node in path["nodes"]] for path in body["paths"]]


class TestCreate:
    async def test_creates_relation_with_provenance(self, client, db_conninfo):
        """POST creates the edge, GET returns it, and X-Provenance-* headers are recorded."""
        artifact = await make_artifact(client)
        [intent] = intents(db_conninfo, 1)
        response = await client.post(
            "/api/v1/relations",
            json={"source_type": "intent", "source_id": intent[1], "relation_type": "derived_from",
                  "target_type": "artifact", "target_id": artifact["id"],
                  "metadata": {"confidence": 0.8}},
            headers={"X-Provenance-Model": "gpt-test"})
        assert response.status_code == 201, response.text
        relation = response.json()
        assert (relation["source_type"], relation["source_id"], relation["relation_type"],
                relation["target_type"], relation["target_id"], relation["metadata"]) == (
            "intent", intent[1], "derived_from", "artifact", artifact["id"], {"confidence": 0.8})
        fetched = await client.get(f"/api/v1/relations/{relation['id']}")
        assert fetched.status_code == 200 and fetched.json() == relation
        records = (await client.get(f"/api/v1/provenance/relation/{relation['id']}")).json()
        assert [r["model"] for r in records] == ["gpt-test"]

    @pytest.mark.parametrize("missing_end", ["source", "target", "both"])
    async def test_missing_end_is_422_naming_it(self, client, db_conninfo, missing_end):
        """An end that does not exist is a 422 whose message and details name that end."""
        [intent] = intents(db_conninfo, 1)
        source = ("intent", MISSING) if missing_end in ("source", "both") else intent
        target = ("decision", MISSING) if missing_end in ("target", "both") else intent
        response = await client.post("/api/v1/relations", json={
            "source_type": source[0], "source_id": source[1], "relation_type": "supports",
            "target_type": target[0], "target_id": target[1]})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["details"]["end"] == missing_end
        if missing_end in ("source", "both"):
            assert f"relation source intent {MISSING} does not exist" in error["message"]
        if missing_end in ("target", "both"):
            assert f"relation target decision {MISSING} does not exist" in error["message"]
        with psycopg.connect(db_conninfo) as conn:
            assert conn.execute("SELECT count(*) FROM relations").fetchone()[0] == 0

    async def test_wrong_type_for_existing_id_is_422(self, client):
        """An id that exists, but as another entity type, is a missing end."""
        artifact = await make_artifact(client)
        other = await make_artifact(client)
        response = await client.post("/api/v1/relations", json={
            "source_type": "artifact", "source_id": other["id"], "relation_type": "cites",
            "target_type": "intent", "target_id": artifact["id"]})
        assert response.status_code == 422
        assert response.json()["error"]["details"]["end"] == "target"

    async def test_bad_input_is_422(self, client):
        """Unknown entity types, malformed relation types, ids and metadata are refused."""
        artifact = await make_artifact(client)
        other = await make_artifact(client)
        valid = {"source_type": "artifact", "source_id": artifact["id"],
                 "relation_type": "cites", "target_type": "artifact", "target_id": other["id"]}
        for field, value in [("source_type", "widget"), ("target_type", "Artifact"),
                             ("relation_type", "Bad-Type"), ("relation_type", ""),
                             ("relation_type", "x" * 65), ("source_id", "not-a-uuid"),
                             ("metadata", ["not", "object"]), ("metadata", {"k": "nul\x00"})]:
            response = await client.post("/api/v1/relations", json={**valid, field: value})
            assert response.status_code == 422, (field, value)
            assert response.json()["error"]["code"] == "invalid"
        assert (await client.get("/api/v1/relations")).json()["items"] == []

    async def test_duplicate_edge_is_409(self, client):
        """The same (source, relation_type, target) twice is a 409 naming the existing id;
        another type or the reverse direction is a new edge."""
        a = ("artifact", (await make_artifact(client))["id"])
        b = ("artifact", (await make_artifact(client))["id"])
        first = await relate(client, a, b, "cites")
        again = await client.post("/api/v1/relations", json={
            "source_type": a[0], "source_id": a[1], "relation_type": "cites",
            "target_type": b[0], "target_id": b[1]})
        assert again.status_code == 409
        assert again.json()["error"]["details"]["existing_id"] == first["id"]
        assert first["id"] in again.json()["error"]["message"]
        await relate(client, a, b, "supports")
        await relate(client, b, a, "cites")

    async def test_concurrent_duplicates_create_one(self, client):
        """Ten identical creates at once: exactly one 201, the others 409."""
        a = ("artifact", (await make_artifact(client))["id"])
        b = ("artifact", (await make_artifact(client))["id"])
        payload = {"source_type": a[0], "source_id": a[1], "relation_type": "cites",
                   "target_type": b[0], "target_id": b[1]}
        responses = await asyncio.gather(*[client.post("/api/v1/relations", json=payload)
                                           for _ in range(10)])
        assert sorted(r.status_code for r in responses) == [201] + [409] * 9

    async def test_self_loop_is_422(self, client):
        """An entity cannot be related to itself."""
        a = ("artifact", (await make_artifact(client))["id"])
        response = await client.post("/api/v1/relations", json={
            "source_type": a[0], "source_id": a[1], "relation_type": "cites",
            "target_type": a[0], "target_id": a[1]})
        assert response.status_code == 422
        assert "itself" in response.json()["error"]["message"]

    async def test_relation_can_point_at_a_relation(self, client, db_conninfo):
        """A relation is an entity: another relation can have it as an end."""
        a, b = intents(db_conninfo, 2)
        edge = await relate(client, a, b)
        meta = await relate(client, ("relation", edge["id"]), a, "annotates")
        assert meta["source_type"] == "relation"

    async def test_unknown_relation_is_404(self, client):
        """GET of an unknown relation is a 404; a malformed id a 422."""
        assert (await client.get(f"/api/v1/relations/{MISSING}")).status_code == 404
        assert (await client.get("/api/v1/relations/nope")).status_code == 422


class TestList:
    @pytest.fixture
    async def star(self, client, db_conninfo):
        """artifact A: A -cites-> intent I, decision D -supports-> A, I -leads_to-> D."""
        artifact = ("artifact", (await make_artifact(client))["id"])
        [intent] = intents(db_conninfo, 1)
        decision = ("decision", _insert(db_conninfo, "decisions")[0])
        out = await relate(client, artifact, intent, "cites")
        into = await relate(client, decision, artifact, "supports")
        other = await relate(client, intent, decision, "leads_to")
        return artifact, {"out": out["id"], "in": into["id"], "other": other["id"]}

    async def test_list_by_entity_each_direction(self, client, star):
        """entity_type + entity_id select relations out of, into, or at either end of it."""
        (kind, ident), ids = star
        async def listed(**params):
            response = await client.get("/api/v1/relations",
                                        params={"entity_type": kind, "entity_id": ident, **params})
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]
        assert await listed(direction="out") == [ids["out"]]
        assert await listed(direction="in") == [ids["in"]]
        assert await listed(direction="both") == [ids["out"], ids["in"]]
        assert await listed() == [ids["out"], ids["in"]]
        everything = (await client.get("/api/v1/relations")).json()["items"]
        assert [item["id"] for item in everything] == [ids["out"], ids["in"], ids["other"]]

    async def test_artifact_relations_route(self, client, star):
        """GET /artifacts/{id}/relations lists the artifact's relations, by direction."""
        (_, ident), ids = star
        url = f"/api/v1/artifacts/{ident}/relations"
        both = (await client.get(url)).json()["items"]
        assert [item["id"] for item in both] == [ids["out"], ids["in"]]
        into = (await client.get(url, params={"direction": "in"})).json()["items"]
        assert [item["id"] for item in into] == [ids["in"]]
        typed = (await client.get(url, params={"relation_type": "cites"})).json()["items"]
        assert [item["id"] for item in typed] == [ids["out"]]
        missing = await client.get(f"/api/v1/artifacts/{MISSING}/relations")
        assert missing.status_code == 404
        assert (await client.get(url, params={"direction": "sideways"})).status_code == 422

    async def test_filters(self, client, star):
        """relation_type, relation_type__in, source_type and target_id filter the list, with
        sparse fields."""
        (kind, ident), ids = star
        async def listed(**params):
            response = await client.get("/api/v1/relations", params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]
        assert await listed(relation_type="cites") == [ids["out"]]
        assert await listed(relation_type__in="cites,leads_to") == [ids["out"], ids["other"]]
        assert await listed(source_type="decision") == [ids["in"]]
        assert await listed(target_id=ident) == [ids["in"]]
        assert await listed(entity_type=kind, entity_id=ident, relation_type="supports") == [ids["in"]]
        sparse = (await client.get("/api/v1/relations",
                                   params={"fields": "id,relation_type", "limit": 1})).json()
        assert sparse["items"] == [{"id": ids["out"], "relation_type": "cites"}]
        assert sparse["has_more"] is True

    async def test_bad_list_parameters_are_422(self, client):
        """Half an entity, a direction without one, unknown types and filters are 422s."""
        for params in [{"entity_type": "artifact"}, {"entity_id": MISSING}, {"direction": "out"},
                       {"entity_type": "thing", "entity_id": MISSING}, {"colour": "red"},
                       {"source_type": "widget"}, {"relation_type__gt": "a"},
                       {"entity_type": "intent", "entity_id": MISSING, "direction": "up"}]:
            response = await client.get("/api/v1/relations", params=params)
            assert response.status_code == 422, (params, response.text)
            assert response.json()["error"]["code"] == "invalid"


class TestTraverse:
    async def test_chain_respects_max_depth(self, client, db_conninfo):
        """On a->b->c->d, max_depth 2 returns the paths of depth 1 and 2 only, with their
        nodes and relations in order."""
        a, b, c, d = intents(db_conninfo, 4)
        ab, bc = await relate(client, a, b), await relate(client, b, c)
        await relate(client, c, d)
        response = await traverse(client, a, max_depth=2)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["truncated"] is False
        assert [p["depth"] for p in body["paths"]] == [1, 2]
        assert node_paths(body) == [[a[1], b[1]], [a[1], b[1], c[1]]]
        assert body["paths"][1]["nodes"][0] == {"type": "intent", "id": a[1]}
        assert body["paths"][1]["relations"] == [
            {key: rel[key] for key in ("id", "relation_type", "source_type", "source_id",
                                       "target_type", "target_id")} for rel in (ab, bc)]

    async def test_default_depth_is_three(self, client, db_conninfo):
        """Without max_depth the walk stops after 3 relations."""
        chain = intents(db_conninfo, 5)
        for x, y in itertools.pairwise(chain):
            await relate(client, x, y)
        body = (await traverse(client, chain[0])).json()
        assert [p["depth"] for p in body["paths"]] == [1, 2, 3]

    async def test_cycle_terminates_without_repeating_nodes(self, client, db_conninfo):
        """a->b->a, and a triangle walked both ways: the walk ends and no path repeats a node."""
        a, b, c = intents(db_conninfo, 3)
        await relate(client, a, b)
        await relate(client, b, a)
        body = (await traverse(client, a, max_depth=10)).json()
        assert node_paths(body) == [[a[1], b[1]]]
        await relate(client, b, c)
        await relate(client, c, a)
        both = (await traverse(client, a, max_depth=10, direction="both")).json()
        assert both["paths"] and all(len(set(p)) == len(p) for p in node_paths(both))
        assert max(p["depth"] for p in both["paths"]) == 2

    async def test_direction_in_walks_backwards(self, client, db_conninfo):
        """direction=in follows relations from target to source."""
        a, b, c = intents(db_conninfo, 3)
        await relate(client, a, b)
        await relate(client, b, c)
        body = (await traverse(client, c, direction="in")).json()
        assert node_paths(body) == [[c[1], b[1]], [c[1], b[1], a[1]]]
        assert (await traverse(client, c, direction="out")).json()["paths"] == []

    async def test_relation_types_restrict_edges(self, client, db_conninfo):
        """relation_types follows only the listed relation types."""
        a, b, c = intents(db_conninfo, 3)
        await relate(client, a, b, "supports")
        await relate(client, b, c, "cites")
        await relate(client, a, c, "cites")
        body = (await traverse(client, a, relation_types="cites")).json()
        assert node_paths(body) == [[a[1], c[1]]]
        mixed = (await traverse(client, a, relation_types="supports, cites")).json()
        assert sorted(map(tuple, node_paths(mixed))) == sorted(
            [(a[1], b[1]), (a[1], c[1]), (a[1], b[1], c[1])])
        bad = await traverse(client, a, relation_types="Cites")
        assert bad.status_code == 422

    async def test_mixed_entity_types(self, client, db_conninfo):
        """Paths cross entity types: artifact -> intent -> decision."""
        artifact = ("artifact", (await make_artifact(client))["id"])
        [intent] = intents(db_conninfo, 1)
        decision = ("decision", _insert(db_conninfo, "decisions")[0])
        await relate(client, artifact, intent)
        await relate(client, intent, decision)
        body = (await traverse(client, artifact)).json()
        assert [[n["type"] for n in p["nodes"]] for p in body["paths"]] == [
            ["artifact", "intent"], ["artifact", "intent", "decision"]]

    async def test_depth_cap(self, client, db_conninfo):
        """max_depth over 10 (or under 1) is a 422 naming the cap."""
        [a] = intents(db_conninfo, 1)
        for depth in (11, 0):
            response = await traverse(client, a, max_depth=depth)
            assert response.status_code == 422
            assert "10" in response.json()["error"]["message"]
            assert response.json()["error"]["details"]["max"] == 10

    async def test_five_hop_chain_found_at_depth_five(self, client, db_conninfo):
        """A 5-relation chain is found whole at max_depth 5, and not at 4."""
        chain = intents(db_conninfo, 6)
        for x, y in itertools.pairwise(chain):
            await relate(client, x, y)
        deep = (await traverse(client, chain[0], max_depth=5)).json()
        assert node_paths(deep)[-1] == [node[1] for node in chain]
        shallow = (await traverse(client, chain[0], max_depth=4)).json()
        assert max(p["depth"] for p in shallow["paths"]) == 4

    async def test_limit_truncates_deterministically(self, client, db_conninfo):
        """More paths than limit: the first `limit` by (depth, path), truncated=true."""
        hub, *spokes = intents(db_conninfo, 6)
        for spoke in spokes:
            await relate(client, hub, spoke)
        body = (await traverse(client, hub, limit=3)).json()
        assert body["truncated"] is True
        expected = sorted(f"intent:{s[1]}" for s in spokes)[:3]
        assert [f"intent:{p[1]}" for p in node_paths(body)] == expected
        full = (await traverse(client, hub, limit=5)).json()
        assert full["truncated"] is False and len(full["paths"]) == 5
        assert (await traverse(client, hub, limit=1001)).status_code == 422

    async def test_work_cap_drops_incomplete_level(self, client, db_conninfo, monkeypatch):
        """When the path generation cap is hit, only complete depth levels are returned, and
        truncated is true."""
        a, b1, b2, b3, c = intents(db_conninfo, 5)
        for b in (b1, b2, b3):
            await relate(client, a, b)
            await relate(client, b, c)
        monkeypatch.setattr(service, "TRAVERSAL_WORK_LIMIT", 4)
        body = (await traverse(client, a)).json()
        assert body["truncated"] is True
        assert [p["depth"] for p in body["paths"]] == [1, 1, 1]
        monkeypatch.setattr(service, "TRAVERSAL_WORK_LIMIT", 2)
        capped = (await traverse(client, a)).json()
        assert capped == {"paths": [], "truncated": True}

    async def test_unknown_start_is_404(self, client):
        """The start entity must exist; an unknown type is a 422."""
        response = await traverse(client, ("intent", MISSING))
        assert response.status_code == 404
        assert MISSING in response.json()["error"]["message"]
        assert (await traverse(client, ("widget", MISSING))).status_code == 422


class TestDelete:
    async def test_delete_takes_dependents_and_provenance(self, client, db_conninfo):
        """DELETE is a 204; the relation, relations to or from it, and its provenance are
        gone; other relations stay."""
        a, b = intents(db_conninfo, 2)
        edge = await relate(client, a, b, provenance={"model": "m"})
        about = await relate(client, a, ("relation", edge["id"]), "annotates")
        from_it = await relate(client, ("relation", edge["id"]), b, "mentions")
        keep = await relate(client, b, a)
        response = await client.delete(f"/api/v1/relations/{edge['id']}")
        assert response.status_code == 204 and response.content == b""
        for gone in (edge, about, from_it):
            assert (await client.get(f"/api/v1/relations/{gone['id']}")).status_code == 404
        assert (await client.get(f"/api/v1/relations/{keep['id']}")).status_code == 200
        with psycopg.connect(db_conninfo) as conn:
            left = conn.execute("SELECT count(*) FROM provenance WHERE target_id = %s",
                                (uuid.UUID(edge["id"]),)).fetchone()[0]
        assert left == 0
        again = await client.delete(f"/api/v1/relations/{edge['id']}")
        assert again.status_code == 404
