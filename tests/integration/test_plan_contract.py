"""A client written from the plan works: its field names are accepted and returned (our
older names stay accepted as aliases), nothing it sends is dropped (an unknown field or
query parameter is a 422 naming it), the plan's fields are stored, intent group names are
unique, a decision can be superseded by one that exists, and collection paths answer with
a trailing slash."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest

API = "/api/v1"
MISSING = "00000000-0000-0000-0000-000000000000"


def _error_locations(response: httpx.Response) -> list[list[str]]:
    return [p["location"] for p in response.json()["error"]["details"]["errors"]]


async def _artifact(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"artifact_type": "note", "source": "user_upload", "content": "hello world", **fields}
    response = await client.post(f"{API}/artifacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _decision(client: httpx.AsyncClient, statement: str) -> dict[str, Any]:
    response = await client.post(f"{API}/decisions", json={"statement": statement})
    assert response.status_code == 201, response.text
    return response.json()


class TestUnknownFieldsRefused:
    @pytest.mark.parametrize("path, body", [
        ("/artifacts", {"artifact_type": "note", "content": "x", "colour": "red"}),
        ("/intents", {"statement": "x", "colour": "red"}),
        ("/intents/groups", {"name": "g", "colour": "red"}),
        ("/decisions", {"statement": "x", "colour": "red"}),
        ("/relations", {"source_type": "artifact", "source_id": MISSING,
                        "relation_type": "contains", "target_type": "artifact",
                        "target_id": MISSING, "colour": "red"}),
        ("/provenance", {"target_type": "artifact", "target_id": MISSING, "model_id": "m",
                         "colour": "red"}),
        ("/spans", {"artifact_version_id": MISSING, "start_offset": 0, "end_offset": 1,
                    "colour": "red"}),
        ("/search/text", {"query": "hello", "colour": "red"}),
        ("/embeddings/spaces", {"name": "s", "embedding_model": "m", "dimensions": 3,
                                "colour": "red"}),
    ])
    async def test_unknown_body_field_is_422_naming_it(self, client, path, body):
        """Every body refuses a field it does not know, with the field in the location and
        the message, before anything is looked up or written."""
        response = await client.post(API + path, json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert ["body", "colour"] in _error_locations(response)
        assert "colour" in error["message"]

    async def test_unknown_nested_field_is_422(self, client):
        """A field unknown inside the nested provenance object is refused too."""
        response = await client.post(f"{API}/artifacts", json={
            "artifact_type": "note", "content": "x", "provenance": {"model_id": "m", "temp": 1}})
        assert response.status_code == 422
        assert ["body", "provenance", "temp"] in _error_locations(response)

    async def test_unknown_query_parameter_is_422(self, client):
        """An operation that reads no such query parameter refuses it instead of ignoring
        it; listings keep treating parameters as filters (an unknown one is a 422 too)."""
        artifact = await _artifact(client)
        response = await client.get(f"{API}/artifacts/{artifact['id']}", params={"expand": "1"})
        assert response.status_code == 422
        assert response.json()["error"]["details"]["parameters"] == ["expand"]
        assert (await client.get(f"{API}/artifacts/{artifact['id']}")).status_code == 200
        listing = await client.get(f"{API}/artifacts", params={"colour": "red"})
        assert listing.status_code == 422
        assert (await client.get(f"{API}/artifacts", params={"limit": 1})).status_code == 200

    async def test_graphql_refuses_unknown_input_fields(self, client):
        """GraphQL validates input objects against the schema: an unknown field is an
        error naming it, and nothing is created."""
        query = ('mutation { createArtifact(input: {kind: NOTE, content: "x", colour: "red"}) '
                 '{ created } }')
        response = await client.post("/graphql", json={"query": query})
        body = response.json()
        assert body.get("data") is None
        assert "colour" in body["errors"][0]["message"]
        listing = await client.get(f"{API}/artifacts")
        assert listing.json()["items"] == []


class TestPlanNames:
    async def test_artifact_type_accepted_and_returned(self, client):
        """The plan's body (`artifact_type`, `source`, `content`) creates an artifact; the
        response carries `artifact_type` and the old `kind`; `kind` alone still works."""
        created = await _artifact(client, artifact_type="conversation")
        assert created["artifact_type"] == created["kind"] == "conversation"
        old = await client.post(f"{API}/artifacts", json={"kind": "document", "content": "y"})
        assert old.status_code == 201
        assert old.json()["artifact_type"] == "document"
        fetched = (await client.get(f"{API}/artifacts/{created['id']}")).json()
        assert fetched["artifact_type"] == "conversation"
        listing = await client.get(f"{API}/artifacts",
                                   params={"artifact_type": "document", "fields": "id,artifact_type"})
        assert listing.json()["items"] == [{"id": old.json()["id"], "artifact_type": "document"}]

    async def test_both_names_must_agree(self, client):
        """The plan's name and the old one together: equal values are fine, different
        values are a 422 naming both."""
        same = await client.post(f"{API}/artifacts", json={
            "artifact_type": "note", "kind": "note", "content": "x"})
        assert same.status_code == 201
        differ = await client.post(f"{API}/artifacts", json={
            "artifact_type": "note", "kind": "document", "content": "x"})
        assert differ.status_code == 422
        message = differ.json()["error"]["details"]["errors"][0]["message"]
        assert "artifact_type" in message and "kind" in message

    async def test_created_by_is_stored_per_version(self, client):
        """`created_by` of version 1 and of an appended version is kept and returned."""
        created = await _artifact(client, created_by="user:maya")
        assert created["versions"][0]["created_by"] == "user:maya"
        appended = await client.post(f"{API}/artifacts/{created['id']}/versions",
                                     json={"content": "hello again", "created_by": "importer"})
        assert appended.status_code == 201
        assert appended.json()["created_by"] == "importer"
        version = await client.get(f"{API}/artifacts/{created['id']}/versions/1")
        assert version.json()["created_by"] == "user:maya"
        versions = (await client.get(f"{API}/artifacts/{created['id']}")).json()["versions"]
        assert [v["created_by"] for v in versions] == ["user:maya", "importer"]

    async def test_intent_group_id_and_proposed_by(self, client):
        """`intent_group_id` puts the intent in the group (it used to be dropped),
        `proposed_by` is stored, and both come back; the filter takes the plan's name."""
        group = (await client.post(f"{API}/intents/groups", json={"name": "cadence"})).json()
        response = await client.post(f"{API}/intents", json={
            "statement": "Move the sync", "intent_group_id": group["id"], "proposed_by": "human"})
        assert response.status_code == 201
        intent = response.json()
        assert intent["intent_group_id"] == intent["group_id"] == group["id"]
        assert intent["proposed_by"] == "human"
        listed = await client.get(f"{API}/intents", params={"intent_group_id": group["id"]})
        assert [i["id"] for i in listed.json()["items"]] == [intent["id"]]
        moved = await client.patch(f"{API}/intents/{intent['id']}",
                                   json={"intent_group_id": None})
        assert moved.json()["intent_group_id"] is None
        fetched = (await client.get(f"{API}/intents/groups/{group['id']}")).json()
        assert fetched["member_count"] == 0

    async def test_provenance_model_id_and_metadata(self, client):
        """A provenance body with the plan's `model_id` and `metadata` is saved (it used to
        be dropped) and read back under both names."""
        artifact = await _artifact(client)
        response = await client.post(f"{API}/provenance", json={
            "target_type": "artifact", "target_id": artifact["id"], "model_id": "gpt-4-turbo",
            "prompt_version": "p1", "metadata": {"temperature": 0.2}})
        assert response.status_code == 201, response.text
        records = (await client.get(f"{API}/provenance/artifact/{artifact['id']}")).json()
        assert len(records) == 1
        assert records[0]["model_id"] == records[0]["model"] == "gpt-4-turbo"
        assert records[0]["metadata"] == records[0]["parameters"] == {"temperature": 0.2}

    async def test_span_artifact_version_id(self, client):
        """A span named by `artifact_version_id` points into that version."""
        artifact = await _artifact(client)
        version_id = artifact["versions"][0]["id"]
        response = await client.post(f"{API}/spans", json={
            "artifact_version_id": version_id, "start_offset": 0, "end_offset": 5,
            "span_type": "evidence"})
        assert response.status_code == 201, response.text
        assert response.json()["artifact_version_id"] == version_id
        assert response.json()["text"] == "hello"
        listed = await client.get(f"{API}/spans", params={"artifact_version_id": version_id})
        assert [s["id"] for s in listed.json()["items"]] == [response.json()["id"]]
        conflicting = await client.get(f"{API}/spans", params={
            "artifact_version_id": version_id, "version_id": MISSING})
        assert conflicting.status_code == 422

    async def test_embedding_metadata_is_stored(self, client, db_conninfo):
        """Client-written vectors keep their `metadata`; the space takes `embedding_model`."""
        space = await client.post(f"{API}/embeddings/spaces", json={
            "name": "mine", "embedding_model": "toy-3", "dimensions": 3})
        assert space.status_code == 201, space.text
        assert space.json()["embedding_model"] == "toy-3"
        artifact = await _artifact(client)
        written = await client.post(f"{API}/embeddings", json={
            "embedding_space": "mine", "vectors": [{
                "target_type": "artifact", "target_id": artifact["id"],
                "vector": [0.1, 0.2, 0.3], "metadata": {"chunker": "mine-v2"}}]})
        assert written.status_code == 200, written.text
        with psycopg.connect(db_conninfo) as conn:
            row = conn.execute("SELECT e.metadata FROM embeddings e JOIN embedding_spaces s "
                               "ON s.id = e.space_id WHERE s.name = 'mine'").fetchone()
        assert row[0] == {"chunker": "mine-v2"}


class TestPlanBodies:
    async def test_plan_entities_with_their_initial_values(self, client):
        """A client that sends the plan's entity with its initial values (an intent
        `proposed`, a group `active`, a decision with `superseded_by_id: null`) succeeds;
        any other initial value is a 422 naming the field."""
        for path, body in (("/intents", {"statement": "s", "status": "proposed"}),
                           ("/intents/groups", {"name": "g", "status": "active"}),
                           ("/decisions", {"statement": "d", "superseded_by_id": None})):
            assert (await client.post(API + path, json=body)).status_code == 201, path
        for path, body, field in (
                ("/intents/groups", {"name": "h", "status": "merged"}, "status"),
                ("/decisions", {"statement": "d", "superseded_by_id": MISSING},
                 "superseded_by_id")):
            response = await client.post(API + path, json=body)
            assert response.status_code == 422, path
            assert ["body", field] in _error_locations(response)


class TestUniqueGroupNames:
    async def test_duplicate_name_is_409_naming_the_group(self, client):
        """Creating a group with a taken name, or renaming one to it, is a 409 in the error
        shape whose details name the existing group; renaming to its own name is fine."""
        first = (await client.post(f"{API}/intents/groups", json={"name": "cadence"})).json()
        again = await client.post(f"{API}/intents/groups", json={"name": "cadence"})
        assert again.status_code == 409
        error = again.json()["error"]
        assert error["code"] == "conflict"
        assert error["details"]["existing_id"] == first["id"]
        other = (await client.post(f"{API}/intents/groups", json={"name": "other"})).json()
        renamed = await client.patch(f"{API}/intents/groups/{other['id']}",
                                     json={"name": "cadence"})
        assert renamed.status_code == 409
        same = await client.patch(f"{API}/intents/groups/{first['id']}", json={"name": "cadence"})
        assert same.status_code == 200

    async def test_constraint_backs_the_check(self, client, db_conninfo):
        """The database itself refuses a second group of the same name."""
        await client.post(f"{API}/intents/groups", json={"name": "solo"})
        with psycopg.connect(db_conninfo) as conn, pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO intent_groups (name) VALUES ('solo')")


class TestSupersedeWithExisting:
    async def test_supersede_by_existing_decision(self, client):
        """PATCH `superseded_by_id` (with or without `status: superseded`) links two
        existing decisions atomically; the lineage shows the chain."""
        old = await _decision(client, "Use Redis for the queue")
        new = await _decision(client, "Use PostgreSQL for the queue")
        response = await client.patch(f"{API}/decisions/{old['id']}", json={
            "status": "superseded", "superseded_by_id": new["id"]})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["superseded"]["status"] == "superseded"
        assert body["superseded"]["superseded_by_id"] == new["id"]
        assert body["current"]["id"] == new["id"]
        assert body["current"]["supersedes_id"] == old["id"]
        lineage = (await client.get(f"{API}/decisions/{new['id']}/lineage")).json()
        assert [d["id"] for d in lineage["items"]] == [old["id"], new["id"]]

    async def test_chain_rules(self, client):
        """The rules of supersede-with-new hold: no superseding a superseded decision, no
        superseded successor (details name its chain's current decision), no successor that
        already supersedes another, no self-supersession, no missing successor."""
        a, b, c, d = [await _decision(client, s) for s in ("a", "b", "c", "d")]
        patch = f"{API}/decisions/{{}}"
        assert (await client.patch(patch.format(a["id"]),
                                   json={"superseded_by_id": b["id"]})).status_code == 200
        again = await client.patch(patch.format(a["id"]), json={"superseded_by_id": c["id"]})
        assert again.status_code == 409
        assert again.json()["error"]["details"]["superseded_by_id"] == b["id"]
        by_superseded = await client.patch(patch.format(c["id"]),
                                           json={"superseded_by_id": a["id"]})
        assert by_superseded.status_code == 409
        assert by_superseded.json()["error"]["details"]["current_id"] == b["id"]
        by_successor = await client.patch(patch.format(c["id"]),
                                          json={"superseded_by_id": b["id"]})
        assert by_successor.status_code == 409
        assert by_successor.json()["error"]["details"]["supersedes_id"] == a["id"]
        itself = await client.patch(patch.format(d["id"]), json={"superseded_by_id": d["id"]})
        assert itself.status_code == 409
        missing = await client.patch(patch.format(d["id"]), json={"superseded_by_id": MISSING})
        assert missing.status_code == 404
        mixed = await client.patch(patch.format(d["id"]),
                                   json={"superseded_by_id": c["id"], "rationale": "x"})
        assert mixed.status_code == 422
        for decision in (c, d):
            fetched = (await client.get(patch.format(decision["id"]))).json()
            assert fetched["status"] == "active" and fetched["superseded_by_id"] is None

    async def test_concurrent_supersessions_by_one_successor(self, client):
        """Two decisions superseded at once by the same existing decision: exactly one
        wins, the other is a 409 (a decision supersedes at most one other)."""
        successor = await _decision(client, "current")
        olds = [await _decision(client, f"old {i}") for i in range(2)]
        responses = await asyncio.gather(*[
            client.patch(f"{API}/decisions/{o['id']}", json={"superseded_by_id": successor["id"]})
            for o in olds])
        assert sorted(r.status_code for r in responses) == [200, 409]


class TestTrailingSlash:
    async def test_collection_paths_answer_with_a_slash(self, client):
        """`POST /api/v1/artifacts/` creates (no 307), `GET` lists; the same for other
        collections and for search."""
        response = await client.post(f"{API}/artifacts/", json={
            "artifact_type": "note", "source": "user_upload", "content": "slash"})
        assert response.status_code == 201, response.text
        listing = await client.get(f"{API}/artifacts/")
        assert listing.status_code == 200
        assert len(listing.json()["items"]) == 1
        intent = await client.post(f"{API}/intents/", json={"statement": "x"})
        assert intent.status_code == 201
        assert (await client.get(f"{API}/intents/groups/")).status_code == 200
        assert (await client.post(f"{API}/search/text/", json={"query": "slash"})).status_code == 200
        assert (await client.get("/health/")).status_code in (200, 503)

    async def test_openapi_lists_each_path_once(self, client):
        """The slash variants are not in the OpenAPI description."""
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert [p for p in paths if p.endswith("/") and p != "/"] == []
        assert "/api/v1/artifacts" in paths
