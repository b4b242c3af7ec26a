"""Artifacts and versions over REST: creation with version 1, append-only numbering under
real concurrency, idempotent import, content rules, listing."""

from __future__ import annotations

import asyncio
import hashlib

import psycopg
import pytest

from tests.factories import append_version, make_artifact


class TestCreate:
    async def test_creates_artifact_and_version_one(self, client):
        """POST creates the artifact and version 1 with the SHA-256 of the content."""
        content = "Grüße 👋🏽 — café"
        body = await make_artifact(client, content=content, kind="document", title="t",
                                   metadata={"project": "apollo"})
        assert body["created"] is True
        assert body["latest_version_number"] == 1
        [version] = body["versions"]
        assert version["version_number"] == 1
        assert version["content_hash"] == hashlib.sha256(content.encode()).hexdigest()
        assert version["content_length"] == len(content)
        fetched = (await client.get(f"/api/v1/artifacts/{body['id']}")).json()
        assert fetched["metadata"] == {"project": "apollo"}
        assert [v["id"] for v in fetched["versions"]] == [version["id"]]

    async def test_repeated_external_id_returns_existing(self, client):
        """The same (source, external_id) again returns the existing artifact, created=false."""
        first = await make_artifact(client, source="chatgpt_export", external_id="c-1", content="a")
        again = await client.post("/api/v1/artifacts", json={
            "kind": "note", "content": "different", "source": "chatgpt_export", "external_id": "c-1"})
        assert again.status_code == 200
        assert again.json()["created"] is False
        assert again.json()["id"] == first["id"]
        assert again.json()["latest_version_number"] == 1
        other_source = await make_artifact(client, source="files", external_id="c-1")
        assert other_source["id"] != first["id"]

    @pytest.mark.parametrize("payload, status", [
        ({"kind": "poem", "content": "x"}, 422),
        ({"kind": "note"}, 422),
        ({"kind": "note", "content": "nul \x00 inside"}, 422),
        ({"kind": "note", "content": "x", "metadata": {"k": "nul\x00"}}, 422),
        ({"kind": "note", "content": "x", "metadata": ["not", "an", "object"]}, 422),
    ])
    async def test_bad_input_is_422(self, client, payload, status):
        """Unknown kinds, missing content, NUL characters and non-object metadata are refused."""
        response = await client.post("/api/v1/artifacts", json=payload)
        assert response.status_code == status
        assert response.json()["error"]["code"] == "invalid"

    async def test_content_over_limit_is_413(self, app, client):
        """Content longer than the configured maximum is a 413."""
        app.state.settings.max_content_chars = 10
        response = await client.post("/api/v1/artifacts", json={"kind": "note", "content": "x" * 11})
        assert response.status_code == 413
        assert response.json()["error"]["details"]["max_chars"] == 10

    async def test_malformed_and_unknown_ids(self, client):
        """A malformed UUID is a 422; a well-formed unknown one is a 404."""
        assert (await client.get("/api/v1/artifacts/not-a-uuid")).status_code == 422
        missing = await client.get("/api/v1/artifacts/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"

    async def test_provenance_from_headers_written_with_artifact(self, client):
        """X-Provenance-* headers produce a provenance record for the new artifact."""
        response = await client.post(
            "/api/v1/artifacts", json={"kind": "note", "content": "x"},
            headers={"X-Provenance-Model": "gpt-test", "X-Provenance-Pipeline": "import 1.0"})
        artifact_id = response.json()["id"]
        records = (await client.get(f"/api/v1/provenance/artifact/{artifact_id}")).json()
        assert [(r["model"], r["pipeline_version"]) for r in records] == [("gpt-test", "import 1.0")]

    async def test_bad_evidence_rolls_back_the_artifact(self, client):
        """Provenance naming a span that does not exist fails the whole write: no artifact."""
        missing_span = "11111111-1111-1111-1111-111111111111"
        response = await client.post("/api/v1/artifacts", json={
            "kind": "note", "content": "x", "external_id": "rollback-me",
            "provenance": {"model": "m", "evidence_span_ids": [missing_span]}})
        assert response.status_code == 422
        assert missing_span in response.json()["error"]["message"]
        listed = (await client.get("/api/v1/artifacts", params={"external_id": "rollback-me"})).json()
        assert listed["items"] == []


class TestVersions:
    async def test_append_numbers_and_dedup(self, client):
        """Appends are numbered 2, 3; repeating the latest content returns it unchanged."""
        artifact = await make_artifact(client, content="v1")
        v2 = await append_version(client, artifact_id=artifact["id"], content="v2")
        v3 = await append_version(client, artifact_id=artifact["id"], content="v3")
        same = await client.post(f"/api/v1/artifacts/{artifact['id']}/versions", json={"content": "v3"})
        assert (v2["version_number"], v3["version_number"]) == (2, 3)
        assert same.status_code == 200
        assert same.json()["created"] is False and same.json()["id"] == v3["id"]
        # Content equal to an older (not the latest) version is a real new version.
        v4 = await append_version(client, artifact_id=artifact["id"], content="v1")
        assert v4["version_number"] == 4 and v4["created"] is True
        got = (await client.get(f"/api/v1/artifacts/{artifact['id']}/versions/2")).json()
        assert got["content"] == "v2"

    async def test_append_to_unknown_artifact_is_404(self, client):
        response = await client.post("/api/v1/artifacts/00000000-0000-0000-0000-000000000001/versions",
                                     json={"content": "x"})
        assert response.status_code == 404

    async def test_fifty_concurrent_appends_are_gap_free(self, client, db_conninfo):
        """50 appends at once to one artifact end as versions 1..51, no gap, no duplicate."""
        artifact = await make_artifact(client, content="base")
        responses = await asyncio.gather(*[
            client.post(f"/api/v1/artifacts/{artifact['id']}/versions", json={"content": f"c{i}"})
            for i in range(50)])
        assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
        with psycopg.connect(db_conninfo) as conn:
            numbers = [row[0] for row in conn.execute(
                "SELECT version_number FROM artifact_versions WHERE artifact_id = %s "
                "ORDER BY version_number", (artifact["id"],))]
        assert numbers == list(range(1, 52))
        assert sorted(r.json()["version_number"] for r in responses) == list(range(2, 52))


class TestListing:
    async def test_cursor_pages_cover_everything_once(self, client):
        """Walking next_cursor visits every artifact exactly once, in creation order."""
        created = [(await make_artifact(client, content=f"n{i}"))["id"] for i in range(7)]
        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/artifacts", params=params)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == created

    async def test_filters_and_sparse_fields(self, client):
        """Filters by enum, metadata key and JSON containment; fields= trims the items."""
        await make_artifact(client, kind="note", metadata={"project": "apollo", "n": 1})
        doc = await make_artifact(client, kind="document", title="Design Review",
                                  metadata={"project": "zeus"})
        page = (await client.get("/api/v1/artifacts", params={"kind": "document"})).json()
        assert [i["id"] for i in page["items"]] == [doc["id"]]
        page = (await client.get("/api/v1/artifacts", params={"metadata__project": "zeus"})).json()
        assert [i["id"] for i in page["items"]] == [doc["id"]]
        page = (await client.get("/api/v1/artifacts",
                                 params={"metadata__contains": '{"project": "zeus"}'})).json()
        assert [i["id"] for i in page["items"]] == [doc["id"]]
        page = (await client.get("/api/v1/artifacts",
                                 params={"title__icontains": "review", "fields": "id,kind"})).json()
        assert page["items"] == [{"id": doc["id"], "kind": "document"}]

    async def test_metadata_key_matches_strings_and_json_scalars(self, client):
        """metadata__n=1 finds the number 1 and the string "1", not 10; a plain word matches
        only that string."""
        number = await make_artifact(client, metadata={"n": 1})
        string = await make_artifact(client, metadata={"n": "1"})
        await make_artifact(client, metadata={"n": 10, "tag": "apollo-x"})
        tagged = await make_artifact(client, metadata={"tag": "apollo"})
        page = (await client.get("/api/v1/artifacts", params={"metadata__n": "1"})).json()
        assert {i["id"] for i in page["items"]} == {number["id"], string["id"]}
        page = (await client.get("/api/v1/artifacts", params={"metadata__tag": "apollo"})).json()
        assert [i["id"] for i in page["items"]] == [tagged["id"]]

    @pytest.mark.parametrize("params, parameter", [
        ({"colour": "red"}, "colour"),
        ({"kind__gt": "note"}, "kind__gt"),
        ({"kind": "poem"}, "kind"),
        ({"created_at__gte": "yesterday"}, "created_at__gte"),
        ({"limit": "500"}, "limit"),
        ({"fields": "id,secret"}, "fields"),
        ({"cursor": "bm90LWEtY3Vyc29y.000000000000"}, "cursor"),
        ({"title": "x'); DROP TABLE artifacts; --"}, None),
    ])
    async def test_bad_parameters(self, client, params, parameter):
        """Unknown fields/operators, bad values, oversize limits and tampered cursors are 422s
        that say what is allowed; an injection attempt is just a value that matches nothing."""
        await make_artifact(client)
        response = await client.get("/api/v1/artifacts", params=params)
        if parameter is None:
            assert response.status_code == 200 and response.json()["items"] == []
            assert (await client.get("/api/v1/artifacts")).json()["items"]
            return
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"].get("parameter") == parameter

    async def test_tampered_cursor_rejected(self, client):
        """Editing a real cursor is detected."""
        for i in range(3):
            await make_artifact(client, content=str(i))
        cursor = (await client.get("/api/v1/artifacts", params={"limit": 1})).json()["next_cursor"]
        body, checksum = cursor.rsplit(".", 1)
        tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + checksum
        response = await client.get("/api/v1/artifacts", params={"cursor": tampered})
        assert response.status_code == 422
