"""Intents and intent groups over REST: the status life cycle, group membership, merges
under real concurrency, provenance written with the entity, listing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from tests.factories import make_artifact

URL = "/api/v1/intents"
GROUPS = f"{URL}/groups"
MISSING = "00000000-0000-0000-0000-00000000abcd"


async def make_intent(client: httpx.AsyncClient, *, statement: str = "ship the importer",
                      **fields: Any) -> dict[str, Any]:
    response = await client.post(URL, json={"statement": statement, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def make_group(client: httpx.AsyncClient, *, name: str = "a group",
                     **fields: Any) -> dict[str, Any]:
    response = await client.post(GROUPS, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def merge(client: httpx.AsyncClient, source: str, target: str, **body: Any) -> httpx.Response:
    return await client.post(f"{GROUPS}/{source}/merge", json={"into": target, **body})


async def make_span(client: httpx.AsyncClient, db_conninfo: str) -> str:
    """A real span, inserted with SQL into a version created through the API."""
    artifact = await make_artifact(client, content="we should meet on Thursdays")
    version_id = artifact["versions"][0]["id"]
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        row = conn.execute("INSERT INTO spans (artifact_version_id, start_offset, end_offset) "
                           "VALUES (%s, 0, 9) RETURNING id", (version_id,)).fetchone()
    return str(row[0])


BAD_INTENTS = [
    {},
    {"statement": ""},
    {"statement": "   \n\t"},
    {"statement": "nul \x00 inside"},
    {"statement": "x", "confidence": 1.5},
    {"statement": "x", "confidence": -0.01},
    {"statement": "x", "confidence": "high"},
    {"statement": "x", "metadata": ["not", "an", "object"]},
    {"statement": "x", "metadata": {"k": "nul\x00"}},
    {"statement": "x", "group_id": "not-a-uuid"},
]
BAD_PARAMETERS = [
    (URL, {"colour": "red"}, "colour"),
    (URL, {"status": "done"}, "status"),
    (URL, {"status__gt": "accepted"}, "status__gt"),
    (URL, {"confidence__gte": "high"}, "confidence__gte"),
    (URL, {"created_at__gte": "yesterday"}, "created_at__gte"),
    (URL, {"group_id": "not-a-uuid"}, "group_id"),
    (URL, {"fields": "id,secret"}, "fields"),
    (GROUPS, {"status": "gone"}, "status"),
    (GROUPS, {"statement": "x"}, "statement"),
    (GROUPS, {"name": "nul\x00"}, "name"),
]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def count_intents(db_conninfo: str) -> int:
    with psycopg.connect(db_conninfo) as conn:
        return conn.execute("SELECT count(*) FROM intents").fetchone()[0]


class TestCreateIntent:
    async def test_creates_proposed_intent(self, client):
        """POST creates a `proposed` intent that GET returns unchanged."""
        group = await make_group(client)
        body = await make_intent(client, statement="Move the sync to Thursdays",
                                 group_id=group["id"], confidence=0.82,
                                 metadata={"project": "apollo"})
        assert body["status"] == "proposed"
        assert (body["group_id"], body["confidence"]) == (group["id"], 0.82)
        assert body["created_at"] == body["updated_at"]
        fetched = await client.get(f"{URL}/{body['id']}")
        assert fetched.status_code == 200
        assert fetched.json() == body

    async def test_status_in_body_is_proposed_or_refused(self, client):
        """An intent always starts `proposed`: the body may say so, any other status is a
        422 naming the field (never silently replaced)."""
        response = await client.post(URL, json={"statement": "x", "status": "accepted"})
        assert response.status_code == 422
        assert response.json()["error"]["details"]["errors"][0]["location"] == ["body", "status"]
        response = await client.post(URL, json={"statement": "x", "status": "proposed"})
        assert response.status_code == 201
        assert response.json()["status"] == "proposed"

    async def test_bad_input_is_422(self, client):
        """Missing/blank statements, NUL characters, confidence outside 0..1, non-object
        metadata and malformed group ids are 422s, and nothing is written."""
        for payload in BAD_INTENTS:
            response = await client.post(URL, json=payload)
            assert response.status_code == 422, (payload, response.text)
            assert response.json()["error"]["code"] == "invalid"
        assert (await client.get(URL)).json()["items"] == []

    async def test_unknown_group_is_404(self, client, db_conninfo):
        """A group that does not exist is a 404 naming it; no intent is created."""
        response = await client.post(URL, json={"statement": "x", "group_id": MISSING})
        assert response.status_code == 404
        assert MISSING in response.json()["error"]["message"]
        assert count_intents(db_conninfo) == 0

    async def test_merged_group_is_409_naming_survivor(self, client, db_conninfo):
        """Creating an intent in a merged group is a 409 that names the group it merged into."""
        old, new = await make_group(client, name="old"), await make_group(client, name="new")
        assert (await merge(client, old["id"], new["id"])).status_code == 200
        response = await client.post(URL, json={"statement": "x", "group_id": old["id"]})
        assert response.status_code == 409
        error = response.json()["error"]
        assert new["id"] in error["message"]
        assert error["details"]["merged_into_id"] == new["id"]
        assert count_intents(db_conninfo) == 0

    async def test_deprecated_group_accepts_members(self, client):
        """A deprecated group still accepts new intents."""
        group = await make_group(client)
        await client.patch(f"{GROUPS}/{group['id']}", json={"status": "deprecated"})
        intent = await make_intent(client, group_id=group["id"])
        assert intent["group_id"] == group["id"]

    async def test_provenance_with_evidence_written_with_intent(self, client, db_conninfo):
        """Body provenance with a real evidence span is recorded for the new intent."""
        span_id = await make_span(client, db_conninfo)
        intent = await make_intent(client, provenance={
            "model": "gpt-test", "prompt_version": "intent@3", "pipeline_version": "extract 1.0",
            "evidence_span_ids": [span_id]})
        records = (await client.get(f"/api/v1/provenance/intent/{intent['id']}")).json()
        assert [(r["model"], r["prompt_version"], r["pipeline_version"], r["evidence_span_ids"])
                for r in records] == [("gpt-test", "intent@3", "extract 1.0", [span_id])]

    async def test_provenance_from_headers(self, client):
        """X-Provenance-* headers produce a provenance record for the new intent."""
        response = await client.post(URL, json={"statement": "x"},
                                     headers={"X-Provenance-Model": "m-1"})
        records = (await client.get(f"/api/v1/provenance/intent/{response.json()['id']}")).json()
        assert [r["model"] for r in records] == ["m-1"]

    async def test_missing_evidence_span_writes_nothing(self, client, db_conninfo):
        """Provenance naming a span that does not exist fails the write: no intent, no
        provenance."""
        missing_span = "11111111-1111-1111-1111-111111111111"
        response = await client.post(URL, json={
            "statement": "roll me back", "provenance": {"model": "m",
                                                        "evidence_span_ids": [missing_span]}})
        assert response.status_code == 422
        assert missing_span in response.json()["error"]["message"]
        assert count_intents(db_conninfo) == 0
        with psycopg.connect(db_conninfo) as conn:
            assert conn.execute("SELECT count(*) FROM provenance").fetchone()[0] == 0


class TestStatus:
    @pytest.mark.parametrize("target", ["accepted", "rejected"])
    async def test_proposed_moves_to_accepted_or_rejected(self, client, target):
        """proposed -> accepted and proposed -> rejected succeed and move updated_at."""
        intent = await make_intent(client)
        response = await client.patch(f"{URL}/{intent['id']}", json={"status": target})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == target
        assert ts(body["updated_at"]) > ts(intent["updated_at"])
        assert body["created_at"] == intent["created_at"]
        assert (await client.get(f"{URL}/{intent['id']}")).json()["status"] == target

    @pytest.mark.parametrize("first, second", [
        ("accepted", "rejected"),
        ("rejected", "accepted"),
        ("accepted", "proposed"),
        ("rejected", "proposed"),
        (None, "proposed"),
    ])
    async def test_other_transitions_are_409(self, client, first, second):
        """Every move other than proposed -> accepted|rejected is a 409 naming the current
        status, with `current_status` in the details; the intent is unchanged."""
        intent = await make_intent(client)
        current = "proposed"
        if first is not None:
            await client.patch(f"{URL}/{intent['id']}", json={"status": first})
            current = first
        before = (await client.get(f"{URL}/{intent['id']}")).json()
        response = await client.patch(f"{URL}/{intent['id']}", json={"status": second})
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "conflict"
        assert f"is {current}" in error["message"]
        assert error["details"]["current_status"] == current
        assert error["details"]["requested_status"] == second
        assert (await client.get(f"{URL}/{intent['id']}")).json() == before

    async def test_repeating_current_status_is_noop(self, client):
        """Asking again for the status an intent already has returns it unchanged (200,
        updated_at untouched), so a retried PATCH succeeds."""
        intent = await make_intent(client)
        accepted = (await client.patch(f"{URL}/{intent['id']}", json={"status": "accepted"})).json()
        again = await client.patch(f"{URL}/{intent['id']}", json={"status": "accepted"})
        assert again.status_code == 200
        assert again.json() == accepted

    async def test_concurrent_accept_and_reject_one_wins(self, client):
        """An accept and a reject at the same time: exactly one succeeds, the other is a 409
        naming the winner's status."""
        intent = await make_intent(client)
        responses = await asyncio.gather(
            client.patch(f"{URL}/{intent['id']}", json={"status": "accepted"}),
            client.patch(f"{URL}/{intent['id']}", json={"status": "rejected"}))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()["status"]
        loser = next(r for r in responses if r.status_code == 409).json()["error"]
        assert loser["details"]["current_status"] == winner
        assert (await client.get(f"{URL}/{intent['id']}")).json()["status"] == winner

    async def test_bad_patch_is_422(self, client):
        """Unknown statuses, bodies that change nothing and malformed values are 422s."""
        intent = await make_intent(client)
        for payload in ({"status": "done"}, {}, {"provenance": {"model": "m"}},
                        {"metadata": "x"}, {"group_id": "nope"}):
            response = await client.patch(f"{URL}/{intent['id']}", json=payload)
            assert response.status_code == 422, (payload, response.text)
        assert (await client.get(f"{URL}/{intent['id']}")).json() == intent

    async def test_unknown_and_malformed_ids(self, client):
        """A malformed id is a 422; a well-formed unknown one is a 404 (GET and PATCH)."""
        assert (await client.get(f"{URL}/not-a-uuid")).status_code == 422
        assert (await client.get(f"{URL}/{MISSING}")).status_code == 404
        response = await client.patch(f"{URL}/{MISSING}", json={"status": "accepted"})
        assert response.status_code == 404
        assert MISSING in response.json()["error"]["message"]

    async def test_patch_records_provenance(self, client):
        """Provenance given with a PATCH is recorded for the intent."""
        intent = await make_intent(client)
        await client.patch(f"{URL}/{intent['id']}", json={"status": "accepted"},
                           headers={"X-Provenance-Pipeline": "review 2"})
        records = (await client.get(f"/api/v1/provenance/intent/{intent['id']}")).json()
        assert [r["pipeline_version"] for r in records] == ["review 2"]


class TestMembership:
    async def test_move_and_remove(self, client):
        """PATCH group_id moves an intent into a group, null removes it; counts follow and
        updated_at moves."""
        a, b = await make_group(client, name="a"), await make_group(client, name="b")
        intent = await make_intent(client, group_id=a["id"])
        moved = (await client.patch(f"{URL}/{intent['id']}", json={"group_id": b["id"]})).json()
        assert moved["group_id"] == b["id"]
        assert ts(moved["updated_at"]) > ts(intent["updated_at"])
        assert (await client.get(f"{GROUPS}/{a['id']}")).json()["member_count"] == 0
        assert (await client.get(f"{GROUPS}/{b['id']}")).json()["member_count"] == 1
        removed = (await client.patch(f"{URL}/{intent['id']}", json={"group_id": None})).json()
        assert removed["group_id"] is None
        assert (await client.get(f"{GROUPS}/{b['id']}")).json()["member_count"] == 0

    async def test_leaving_group_out_keeps_it(self, client):
        """A PATCH without group_id keeps the group; metadata is replaced."""
        group = await make_group(client)
        intent = await make_intent(client, group_id=group["id"], metadata={"a": 1})
        body = (await client.patch(f"{URL}/{intent['id']}", json={"metadata": {"b": 2}})).json()
        assert body["group_id"] == group["id"]
        assert body["metadata"] == {"b": 2}

    async def test_merged_group_is_409_naming_survivor(self, client):
        """Moving an intent to a merged group is a 409 naming the group it was merged into;
        the intent stays where it was."""
        old, new = await make_group(client, name="old"), await make_group(client, name="new")
        await merge(client, old["id"], new["id"])
        intent = await make_intent(client)
        response = await client.patch(f"{URL}/{intent['id']}", json={"group_id": old["id"]})
        assert response.status_code == 409
        error = response.json()["error"]
        assert new["id"] in error["message"]
        assert error["details"] == {"group_id": old["id"], "merged_into_id": new["id"]}
        assert (await client.get(f"{URL}/{intent['id']}")).json()["group_id"] is None

    async def test_unknown_group_is_404(self, client):
        """Moving an intent to a group that does not exist is a 404 naming the group."""
        intent = await make_intent(client)
        response = await client.patch(f"{URL}/{intent['id']}", json={"group_id": MISSING})
        assert response.status_code == 404
        assert MISSING in response.json()["error"]["message"]

    async def test_joins_racing_a_merge_never_strand_members(self, client, db_conninfo):
        """Intents joining a group while it is merged either land in it before the merge (and
        move with it) or get a 409 naming the survivor: none is left in the merged group."""
        source, target = await make_group(client, name="s"), await make_group(client, name="t")
        intents = [await make_intent(client, statement=f"i{i}") for i in range(12)]
        joins = [client.patch(f"{URL}/{i['id']}", json={"group_id": source["id"]})
                 for i in intents]
        results = await asyncio.gather(*joins[:6], merge(client, source["id"], target["id"]),
                                       *joins[6:])
        merge_response = results[6]
        assert merge_response.status_code == 200, merge_response.text
        for response in results[:6] + results[7:]:
            assert response.status_code in (200, 409), response.text
            if response.status_code == 409:
                assert response.json()["error"]["details"]["merged_into_id"] == target["id"]
        with psycopg.connect(db_conninfo) as conn:
            stranded = conn.execute("SELECT count(*) FROM intents WHERE intent_group_id = %s",
                                    (source["id"],)).fetchone()[0]
            in_target = conn.execute("SELECT count(*) FROM intents WHERE intent_group_id = %s",
                                     (target["id"],)).fetchone()[0]
        assert stranded == 0
        assert in_target == sum(r.status_code == 200 for r in results[:6] + results[7:])
        assert merge_response.json()["moved_intents"] == in_target


class TestGroups:
    async def test_create_and_get(self, client):
        """A new group is active with no members; GET shows its member count."""
        group = await make_group(client, name="Meeting cadence", description="when we meet",
                                 metadata={"team": "core"})
        assert (group["status"], group["merged_into_id"], group["member_count"]) == (
            "active", None, 0)
        await make_intent(client, group_id=group["id"])
        await make_intent(client, group_id=group["id"])
        fetched = (await client.get(f"{GROUPS}/{group['id']}")).json()
        assert fetched["member_count"] == 2
        assert (fetched["name"], fetched["description"], fetched["metadata"]) == (
            "Meeting cadence", "when we meet", {"team": "core"})

    async def test_bad_group_input_is_422(self, client):
        """Missing or blank names, NUL characters and non-object metadata are 422s."""
        for payload in ({}, {"name": "  "}, {"name": "x\x00"}, {"name": "x", "metadata": [1]}):
            response = await client.post(GROUPS, json=payload)
            assert response.status_code == 422, (payload, response.text)
        assert (await client.get(GROUPS)).json()["items"] == []

    async def test_unknown_and_malformed_group_ids(self, client):
        """A malformed group id is a 422, an unknown one a 404."""
        assert (await client.get(f"{GROUPS}/nope")).status_code == 422
        assert (await client.get(f"{GROUPS}/{MISSING}")).status_code == 404

    async def test_group_provenance(self, client):
        """Provenance given when creating a group is recorded for it."""
        group = await make_group(client, provenance={"model": "clusterer"})
        records = (await client.get(f"/api/v1/provenance/intent_group/{group['id']}")).json()
        assert [r["model"] for r in records] == ["clusterer"]

    async def test_deprecate_and_reactivate(self, client):
        """PATCH sets a group deprecated and back to active and moves updated_at; `merged`
        cannot be set directly."""
        group = await make_group(client)
        response = await client.patch(f"{GROUPS}/{group['id']}", json={"status": "deprecated"})
        assert response.status_code == 200
        assert response.json()["status"] == "deprecated"
        assert ts(response.json()["updated_at"]) > ts(group["updated_at"])
        back = await client.patch(f"{GROUPS}/{group['id']}", json={"status": "active"})
        assert back.json()["status"] == "active"
        direct = await client.patch(f"{GROUPS}/{group['id']}", json={"status": "merged"})
        assert direct.status_code == 422

    async def test_merged_group_cannot_change(self, client):
        """A merged group is final: PATCH is a 409 naming the group it was merged into."""
        old, new = await make_group(client, name="old"), await make_group(client, name="new")
        await merge(client, old["id"], new["id"])
        response = await client.patch(f"{GROUPS}/{old['id']}", json={"name": "renamed"})
        assert response.status_code == 409
        assert new["id"] in response.json()["error"]["message"]


class TestMerge:
    async def test_merge_moves_members(self, client):
        """Merging marks the source merged into the target, moves its members, and returns
        the target with its new member count and the number moved."""
        source, target = await make_group(client, name="s"), await make_group(client, name="t")
        for i in range(3):
            await make_intent(client, statement=f"s{i}", group_id=source["id"])
        await make_intent(client, statement="t0", group_id=target["id"])
        response = await merge(client, source["id"], target["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["status"], body["member_count"]) == (target["id"], "active", 4)
        assert (body["moved_intents"], body["merged_group_id"]) == (3, source["id"])
        merged = (await client.get(f"{GROUPS}/{source['id']}")).json()
        assert (merged["status"], merged["merged_into_id"], merged["member_count"]) == (
            "merged", target["id"], 0)
        assert ts(merged["updated_at"]) > ts(source["updated_at"])
        members = (await client.get(URL, params={"group_id": target["id"]})).json()["items"]
        assert len(members) == 4

    async def test_merge_records_provenance_on_source(self, client):
        """Provenance given with a merge is recorded on the merged (source) group."""
        source, target = await make_group(client, name="s"), await make_group(client, name="t")
        await merge(client, source["id"], target["id"], provenance={"model": "dedup-1"})
        records = (await client.get(f"/api/v1/provenance/intent_group/{source['id']}")).json()
        assert [r["model"] for r in records] == ["dedup-1"]

    async def test_deprecated_group_can_be_merged(self, client):
        """A deprecated group may be merged."""
        source, target = await make_group(client, name="s"), await make_group(client, name="t")
        await client.patch(f"{GROUPS}/{source['id']}", json={"status": "deprecated"})
        response = await merge(client, source["id"], target["id"])
        assert response.status_code == 200, response.text

    async def test_missing_groups_are_404(self, client):
        """A merge whose source or target does not exist is a 404 naming it."""
        group = await make_group(client)
        for source, target in ((MISSING, group["id"]), (group["id"], MISSING)):
            response = await merge(client, source, target)
            assert response.status_code == 404
            assert MISSING in response.json()["error"]["message"]
        assert (await client.get(f"{GROUPS}/{group['id']}")).json()["status"] == "active"

    async def test_self_merge_is_409(self, client):
        """A group cannot be merged into itself."""
        group = await make_group(client)
        response = await merge(client, group["id"], group["id"])
        assert response.status_code == 409
        assert "itself" in response.json()["error"]["message"]

    async def test_already_merged_source_is_409(self, client):
        """Merging a group that is already merged is a 409 naming where it went."""
        a, b, c = (await make_group(client, name="a"), await make_group(client, name="b"),
                   await make_group(client, name="c"))
        await merge(client, a["id"], b["id"])
        response = await merge(client, a["id"], c["id"])
        assert response.status_code == 409
        assert f"already merged into {b['id']}" in response.json()["error"]["message"]
        assert (await client.get(f"{GROUPS}/{a['id']}")).json()["merged_into_id"] == b["id"]

    async def test_merged_target_is_409(self, client):
        """Merging into a merged group is a 409 naming the group to merge into instead."""
        a, b, c = (await make_group(client, name="a"), await make_group(client, name="b"),
                   await make_group(client, name="c"))
        await merge(client, b["id"], c["id"])
        response = await merge(client, a["id"], b["id"])
        assert response.status_code == 409
        assert response.json()["error"]["details"]["merged_into_id"] == c["id"]
        assert (await client.get(f"{GROUPS}/{a['id']}")).json()["status"] == "active"

    async def test_opposite_concurrent_merges_one_wins_no_cycle(self, client, db_conninfo):
        """A into B and B into A at the same time: exactly one succeeds, the other is a 409,
        and no cycle exists (repeated to give the race several chances)."""
        for round_ in range(5):
            a = await make_group(client, name=f"a{round_}")
            b = await make_group(client, name=f"b{round_}")
            await make_intent(client, statement=f"in a{round_}", group_id=a["id"])
            await make_intent(client, statement=f"in b{round_}", group_id=b["id"])
            first, second = await asyncio.gather(merge(client, a["id"], b["id"]),
                                                 merge(client, b["id"], a["id"]))
            codes = sorted((first.status_code, second.status_code))
            assert codes == [200, 409], (first.text, second.text)
            winner = first if first.status_code == 200 else second
            assert winner.json()["member_count"] == 2
            with psycopg.connect(db_conninfo) as conn:
                rows = conn.execute(
                    "SELECT id::text, status::text, merged_into_id::text FROM intent_groups "
                    "WHERE id = ANY(%s)", ([uuid.UUID(a["id"]), uuid.UUID(b["id"])],)).fetchall()
            states = {row[0]: (row[1], row[2]) for row in rows}
            merged = [gid for gid, (status, _) in states.items() if status == "merged"]
            assert len(merged) == 1
            survivor = ({a["id"], b["id"]} - set(merged)).pop()
            assert states[merged[0]][1] == survivor
            assert states[survivor] == ("active", None)


class TestListing:
    async def test_intent_filters(self, client):
        """Intents filter by status, group, confidence range, statement text, metadata,
        created_at and id; fields= trims the items."""
        group = await make_group(client)
        low = await make_intent(client, statement="Low one", confidence=0.2,
                                metadata={"project": "apollo"})
        mid = await make_intent(client, statement="Meet on Thursdays", confidence=0.6,
                                group_id=group["id"])
        high = await make_intent(client, statement="Ship it", confidence=0.9)
        await client.patch(f"{URL}/{high['id']}", json={"status": "accepted"})

        async def ids(**params) -> list[str]:
            response = await client.get(URL, params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids(status="accepted") == [high["id"]]
        assert await ids(status__in="proposed,rejected") == [low["id"], mid["id"]]
        assert await ids(group_id=group["id"]) == [mid["id"]]
        assert await ids(confidence__gte="0.5", confidence__lte="0.7") == [mid["id"]]
        assert await ids(confidence__gt="0.6") == [high["id"]]
        assert await ids(statement__icontains="thursday") == [mid["id"]]
        assert await ids(metadata__project="apollo") == [low["id"]]
        assert await ids(created_at__gte=mid["created_at"]) == [mid["id"], high["id"]]
        assert await ids(id=low["id"]) == [low["id"]]
        page = (await client.get(URL, params={"id": mid["id"], "fields": "id,status"})).json()
        assert page["items"] == [{"id": mid["id"], "status": "proposed"}]

    async def test_intent_pages_cover_everything_once(self, client):
        """Walking next_cursor visits every intent exactly once, in creation order."""
        created = [(await make_intent(client, statement=f"n{i}"))["id"] for i in range(5)]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(URL, params=params)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == created

    async def test_group_filters(self, client):
        """Groups filter by status, name, id and created_at, and carry member counts."""
        a = await make_group(client, name="Cadence")
        b = await make_group(client, name="Tooling")
        c = await make_group(client, name="Budget")
        await make_intent(client, group_id=b["id"])
        await merge(client, a["id"], b["id"])
        await client.patch(f"{GROUPS}/{c['id']}", json={"status": "deprecated"})

        async def ids(**params) -> list[str]:
            response = await client.get(GROUPS, params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids(status="merged") == [a["id"]]
        assert await ids(status__ne="merged") == [b["id"], c["id"]]
        assert await ids(status="deprecated") == [c["id"]]
        assert await ids(name__icontains="tool") == [b["id"]]
        assert await ids(id=c["id"]) == [c["id"]]
        assert await ids(created_at__gt=a["created_at"]) == [b["id"], c["id"]]
        assert await ids(merged_into_id=b["id"]) == [a["id"]]
        page = (await client.get(GROUPS, params={"id": b["id"],
                                                 "fields": "id,member_count"})).json()
        assert page["items"] == [{"id": b["id"], "member_count": 1}]

    async def test_bad_parameters(self, client):
        """Unknown fields/operators and bad values are 422s naming the parameter."""
        for path, params, parameter in BAD_PARAMETERS:
            response = await client.get(path, params=params)
            assert response.status_code == 422, (params, response.text)
            assert response.json()["error"]["details"].get("parameter") == parameter
