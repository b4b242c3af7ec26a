"""Decisions over REST: creation, promotion, atomic supersession under real concurrency,
lineage walked both ways, provenance on the new decision, listing and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest

URL = "/api/v1/decisions"
MISSING = "00000000-0000-0000-0000-000000000000"


async def make_decision(client: httpx.AsyncClient, *, statement: str = "Use PostgreSQL",
                        **fields: Any) -> dict[str, Any]:
    response = await client.post(URL, json={"statement": statement, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def supersede(client: httpx.AsyncClient, decision_id: str, statement: str,
                    **fields: Any) -> httpx.Response:
    return await client.patch(f"{URL}/{decision_id}",
                              json={"supersede_with": {"statement": statement, **fields}})


def count_decisions(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT count(*) FROM decisions").fetchone()[0]


class TestCreate:
    async def test_create_and_get(self, client):
        """POST creates an active decision by default; GET returns it with empty chain links."""
        created = await make_decision(client, statement="Ship on Fridays", rationale="why not",
                                      metadata={"project": "apollo"})
        assert created["status"] == "active"
        assert created["superseded_by_id"] is None and created["supersedes_id"] is None
        fetched = (await client.get(f"{URL}/{created['id']}")).json()
        assert fetched == created
        assert (fetched["statement"], fetched["rationale"]) == ("Ship on Fridays", "why not")
        assert fetched["metadata"] == {"project": "apollo"}
        tentative = await make_decision(client, status="tentative")
        assert tentative["status"] == "tentative"

    @pytest.mark.parametrize("payload", [
        {"statement": "x", "status": "superseded"},
        {"statement": "x", "status": "maybe"},
        {"statement": "nul \x00 inside"},
        {"statement": "x", "rationale": "nul \x00"},
        {"statement": "x", "metadata": {"k": "nul\x00"}},
        {"statement": "   "},
        {"statement": "x", "metadata": ["not", "an", "object"]},
        {},
    ])
    async def test_bad_input_is_422(self, client, db_conninfo, payload):
        """Superseded or unknown statuses, NUL characters, blank statements and non-object
        metadata are refused with a 422, and nothing is stored."""
        response = await client.post(URL, json=payload)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid"
        assert count_decisions(db_conninfo) == 0

    async def test_malformed_and_unknown_ids(self, client):
        """Malformed UUIDs are 422 on every route; well-formed unknown ones are 404."""
        for response in [await client.get(f"{URL}/not-a-uuid"),
                         await client.get(f"{URL}/not-a-uuid/lineage"),
                         await client.patch(f"{URL}/not-a-uuid", json={"status": "active"})]:
            assert response.status_code == 422, response.text
        for response in [await client.get(f"{URL}/{MISSING}"),
                         await client.get(f"{URL}/{MISSING}/lineage"),
                         await client.patch(f"{URL}/{MISSING}", json={"status": "active"}),
                         await supersede(client, MISSING, "new")]:
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"

    async def test_provenance_from_headers_on_create(self, client):
        """X-Provenance-* headers produce a provenance record for the new decision."""
        response = await client.post(URL, json={"statement": "x"},
                                     headers={"X-Provenance-Model": "gpt-test"})
        records = (await client.get(f"/api/v1/provenance/decision/{response.json()['id']}")).json()
        assert [r["model"] for r in records] == ["gpt-test"]


class TestEdit:
    async def test_promote_tentative(self, client):
        """status=active promotes a tentative decision and moves updated_at."""
        decision = await make_decision(client, status="tentative")
        response = await client.patch(f"{URL}/{decision['id']}", json={"status": "active"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"
        assert response.json()["updated_at"] > decision["updated_at"]

    @pytest.mark.parametrize("start, wanted", [
        ("active", "tentative"),
        ("active", "superseded"),
        ("tentative", "superseded"),
    ])
    async def test_other_status_changes_are_409(self, client, start, wanted):
        """Only tentative -> active is allowed; the 409 names the current status."""
        decision = await make_decision(client, status=start)
        response = await client.patch(f"{URL}/{decision['id']}", json={"status": wanted})
        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"]["status"] == start
        assert (await client.get(f"{URL}/{decision['id']}")).json()["status"] == start

    async def test_rationale_and_metadata_edits(self, client):
        """rationale and metadata can be edited (metadata replaced, null rationale clears)."""
        decision = await make_decision(client, rationale="old", metadata={"a": 1})
        response = await client.patch(f"{URL}/{decision['id']}",
                                      json={"rationale": "new", "metadata": {"b": 2}})
        assert response.status_code == 200, response.text
        assert (response.json()["rationale"], response.json()["metadata"]) == ("new", {"b": 2})
        cleared = await client.patch(f"{URL}/{decision['id']}", json={"rationale": None})
        assert cleared.json()["rationale"] is None
        assert cleared.json()["metadata"] == {"b": 2}
        assert cleared.json()["statement"] == decision["statement"]

    @pytest.mark.parametrize("payload", [
        {},
        {"statement": "rewritten"},
        {"status": "active", "supersede_with": {"statement": "x"}},
        {"supersede_with": {"statement": "x", "status": "superseded"}},
        {"supersede_with": {"statement": "x\x00"}},
    ])
    async def test_bad_patch_is_422(self, client, db_conninfo, payload):
        """Empty patches, statement edits, mixed edit+supersede and bad successors are 422."""
        decision = await make_decision(client)
        response = await client.patch(f"{URL}/{decision['id']}", json=payload)
        assert response.status_code == 422, response.text
        assert count_decisions(db_conninfo) == 1
        assert (await client.get(f"{URL}/{decision['id']}")).json()["status"] == "active"


class TestSupersede:
    async def test_supersede_returns_both_and_links_them(self, client):
        """Superseding returns {superseded, current}; the old one points forward, the new
        one back."""
        old = await make_decision(client, statement="A")
        response = await supersede(client, old["id"], "B", rationale="better",
                                   status="tentative", metadata={"v": 2})
        assert response.status_code == 200, response.text
        body = response.json()
        new = body["current"]
        assert body["superseded"]["id"] == old["id"]
        assert body["superseded"]["status"] == "superseded"
        assert body["superseded"]["superseded_by_id"] == new["id"]
        assert (new["statement"], new["rationale"], new["status"], new["metadata"]) == (
            "B", "better", "tentative", {"v": 2})
        assert new["supersedes_id"] == old["id"] and new["superseded_by_id"] is None
        assert (await client.get(f"{URL}/{old['id']}")).json() == body["superseded"]

    async def test_chain_lineage_from_every_member(self, client):
        """A -> B -> C: the lineage from A, B or C is [A, B, C]; links walk both ways."""
        a = await make_decision(client, statement="A")
        b = (await supersede(client, a["id"], "B")).json()["current"]
        c = (await supersede(client, b["id"], "C")).json()["current"]
        other = await make_decision(client, statement="unrelated")
        ids = [a["id"], b["id"], c["id"]]
        for member in ids:
            lineage = (await client.get(f"{URL}/{member}/lineage")).json()
            assert [d["id"] for d in lineage["items"]] == ids
            assert lineage["current_id"] == c["id"] and lineage["truncated"] is False
        got = {d: (await client.get(f"{URL}/{d}")).json() for d in ids}
        assert [got[d]["supersedes_id"] for d in ids] == [None, a["id"], b["id"]]
        assert [got[d]["superseded_by_id"] for d in ids] == [b["id"], c["id"], None]
        assert [got[d]["status"] for d in ids] == ["superseded", "superseded", "active"]
        alone = (await client.get(f"{URL}/{other['id']}/lineage")).json()
        assert [d["id"] for d in alone["items"]] == [other["id"]]

    async def test_superseding_twice_is_409_naming_successor(self, client, db_conninfo):
        """Superseding A again after A -> B -> C is a 409 naming B (and C as current), and
        creates nothing."""
        a = await make_decision(client, statement="A")
        b = (await supersede(client, a["id"], "B")).json()["current"]
        c = (await supersede(client, b["id"], "C")).json()["current"]
        response = await supersede(client, a["id"], "D")
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["details"]["superseded_by_id"] == b["id"]
        assert error["details"]["current_id"] == c["id"]
        assert b["id"] in error["message"]
        assert count_decisions(db_conninfo) == 3

    async def test_superseded_status_is_final(self, client):
        """A superseded decision cannot be promoted or reverted; the 409 names the successor."""
        a = await make_decision(client, statement="A", status="tentative")
        b = (await supersede(client, a["id"], "B")).json()["current"]
        response = await client.patch(f"{URL}/{a['id']}", json={"status": "active"})
        assert response.status_code == 409
        assert response.json()["error"]["details"]["superseded_by_id"] == b["id"]

    async def test_concurrent_supersessions_one_wins(self, client, db_conninfo):
        """10 simultaneous supersessions of one decision: one 200, nine 409s naming the
        winner, and exactly one new decision."""
        old = await make_decision(client, statement="contested")
        responses = await asyncio.gather(*[
            supersede(client, old["id"], f"successor {i}") for i in range(10)])
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [409] * 9, [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()["current"]["id"]
        assert all(r.json()["error"]["details"]["superseded_by_id"] == winner
                   for r in responses if r.status_code == 409)
        assert count_decisions(db_conninfo) == 2
        with psycopg.connect(db_conninfo) as conn:
            row = conn.execute("SELECT status::text, superseded_by_id::text FROM decisions "
                               "WHERE id = %s", (old["id"],)).fetchone()
        assert row == ("superseded", winner)

    async def test_failed_supersede_leaves_no_orphan(self, client, db_conninfo):
        """A supersession whose provenance is invalid rolls back: no new decision, the old one
        still active."""
        old = await make_decision(client)
        missing_span = "11111111-1111-1111-1111-111111111111"
        response = await client.patch(f"{URL}/{old['id']}", json={
            "supersede_with": {"statement": "new"},
            "provenance": {"model": "m", "evidence_span_ids": [missing_span]}})
        assert response.status_code == 422, response.text
        assert count_decisions(db_conninfo) == 1
        after = (await client.get(f"{URL}/{old['id']}")).json()
        assert (after["status"], after["superseded_by_id"]) == ("active", None)

    async def test_provenance_attaches_to_new_decision(self, client):
        """Provenance given on a supersession (header and body) lands on the new decision."""
        old = await make_decision(client)
        response = await client.patch(
            f"{URL}/{old['id']}", headers={"X-Provenance-Model": "gpt-judge"},
            json={"supersede_with": {"statement": "new"},
                  "provenance": {"prompt_version": "decide@2"}})
        new_id = response.json()["current"]["id"]
        records = (await client.get(f"/api/v1/provenance/decision/{new_id}")).json()
        assert [(r["model"], r["prompt_version"]) for r in records] == [("gpt-judge", "decide@2")]
        assert (await client.get(f"/api/v1/provenance/decision/{old['id']}")).json() == []


class TestListing:
    async def test_filter_by_status_and_text(self, client):
        """status, statement__icontains and metadata filters select the right decisions."""
        a = await make_decision(client, statement="Adopt Kafka", metadata={"team": "data"})
        b = (await supersede(client, a["id"], "Adopt the Postgres queue")).json()["current"]
        t = await make_decision(client, statement="Maybe GraphQL", status="tentative")

        async def ids(**params: str) -> list[str]:
            response = await client.get(URL, params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids(status="superseded") == [a["id"]]
        assert await ids(status="active") == [b["id"]]
        assert await ids(status__in="active,tentative") == [b["id"], t["id"]]
        assert await ids(statement__icontains="postgres") == [b["id"]]
        assert await ids(metadata__team="data") == [a["id"]]
        assert await ids(id=t["id"]) == [t["id"]]
        page = (await client.get(URL, params={"status": "tentative",
                                              "fields": "id,status"})).json()
        assert page["items"] == [{"id": t["id"], "status": "tentative"}]

    async def test_cursor_pages_cover_everything_once(self, client):
        """Walking next_cursor visits every decision exactly once, in creation order."""
        created = [(await make_decision(client, statement=f"d{i}"))["id"] for i in range(5)]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(URL, params=params)).json()
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == created

    @pytest.mark.parametrize("params, parameter", [
        ({"status": "maybe"}, "status"),
        ({"colour": "red"}, "colour"),
        ({"id": "not-a-uuid"}, "id"),
        ({"statement__icontains": "nul\x00"}, "statement__icontains"),
        ({"created_at__gte": "yesterday"}, "created_at__gte"),
        ({"fields": "id,secret"}, "fields"),
    ])
    async def test_bad_parameters(self, client, params, parameter):
        """Unknown filters, bad enum values, malformed ids and NULs are 422s naming the
        parameter."""
        response = await client.get(URL, params=params)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"].get("parameter") == parameter
