"""GraphQL writes: every REST write as a mutation through the same service, with provenance,
read back through queries or REST, and the error codes clients branch on."""

from __future__ import annotations

from typing import Any

from tests.factories import make_artifact, make_span

MISSING = "00000000-0000-0000-0000-000000000000"


async def gql(client, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code != 500, response.text
    return response.json()


async def ok(client, query: str, **variables: Any) -> dict[str, Any]:
    """The `data` of a request that must succeed."""
    body = await gql(client, query, **variables)
    assert not body.get("errors"), body
    return body["data"]


async def fails(client, query: str, code: str, **variables: Any) -> dict[str, Any]:
    """The single error of a request that must fail with `code`."""
    body = await gql(client, query, **variables)
    assert body.get("errors"), body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, error
    return error


CREATE_ARTIFACT = """
mutation($input: CreateArtifactInput!, $prov: ProvenanceInput) {
  createArtifact(input: $input, provenance: $prov) {
    created artifact { id kind title source externalId metadata
      versions { id versionNumber content metadata } provenance { model pipelineVersion } }
  }
}"""

APPEND = """
mutation($id: UUID!, $content: String!, $prov: ProvenanceInput) {
  appendVersion(artifactId: $id, input: {content: $content, metadata: {step: 2}},
                provenance: $prov) {
    created version { id versionNumber contentLength provenance { model } }
  }
}"""

CREATE_SPAN = """
mutation($input: CreateSpanInput!) {
  createSpan(input: $input) { id startOffset endOffset spanType text version { versionNumber } }
}"""

CREATE_INTENT = """
mutation($input: CreateIntentInput!, $prov: ProvenanceInput) {
  createIntent(input: $input, provenance: $prov) {
    id statement status confidence metadata group { id name }
    provenance { model promptVersion parameters evidence { text } }
  }
}"""

UPDATE_INTENT = """
mutation($id: UUID!, $input: UpdateIntentInput!, $prov: ProvenanceInput) {
  updateIntent(id: $id, input: $input, provenance: $prov) {
    id status groupId metadata provenance { model }
  }
}"""

CREATE_GROUP = """
mutation($input: CreateIntentGroupInput!) {
  createIntentGroup(input: $input) { id name description status }
}"""

UPDATE_GROUP = """
mutation($id: UUID!, $input: UpdateIntentGroupInput!) {
  updateIntentGroup(id: $id, input: $input) { id name description status metadata }
}"""

MERGE = """
mutation($source: UUID!, $into: UUID!, $prov: ProvenanceInput) {
  mergeIntentGroups(sourceId: $source, intoId: $into, provenance: $prov) {
    movedIntents group { id status intents { statement } }
    mergedGroup { id status mergedIntoId provenance { model } }
  }
}"""

CREATE_DECISION = """
mutation($input: CreateDecisionInput!, $prov: ProvenanceInput) {
  createDecision(input: $input, provenance: $prov) { id statement rationale status }
}"""

UPDATE_DECISION = """
mutation($id: UUID!, $input: UpdateDecisionInput!) {
  updateDecision(id: $id, input: $input) { id status rationale metadata }
}"""

SUPERSEDE = """
mutation($id: UUID!, $input: CreateDecisionInput!, $prov: ProvenanceInput) {
  supersedeDecision(id: $id, input: $input, provenance: $prov) {
    superseded { id status supersededById }
    current { id statement status supersedes { id } provenance { model } }
  }
}"""

CREATE_RELATION = """
mutation($input: CreateRelationInput!, $prov: ProvenanceInput) {
  createRelation(input: $input, provenance: $prov) {
    id relationType sourceType sourceId targetType targetId
    source { __typename ... on Intent { statement } }
    target { __typename ... on Span { text } }
    provenance { model }
  }
}"""

DELETE_RELATION = "mutation($id: UUID!) { deleteRelation(id: $id) }"

CREATE_PROVENANCE = """
mutation($target: EntityRef!, $input: ProvenanceInput!) {
  createProvenance(target: $target, input: $input) {
    id targetType targetId model evidenceSpanIds evidence { text }
  }
}"""


async def intent(client, statement: str = "Move the sync", **fields: Any) -> dict[str, Any]:
    data = await ok(client, CREATE_INTENT, input={"statement": statement, **fields})
    return data["createIntent"]


async def group(client, name: str) -> dict[str, Any]:
    return (await ok(client, CREATE_GROUP, input={"name": name}))["createIntentGroup"]


async def decision(client, statement: str = "Use PostgreSQL", **fields: Any) -> dict[str, Any]:
    data = await ok(client, CREATE_DECISION, input={"statement": statement, **fields})
    return data["createDecision"]


class TestArtifacts:
    async def test_create_artifact_with_version_one_and_provenance(self, client):
        """createArtifact writes the artifact, version 1 and its provenance; REST sees them."""
        data = await ok(client, CREATE_ARTIFACT, input={
            "kind": "DOCUMENT", "content": "Grüße 👋🏽", "title": "t", "metadata": {"p": "apollo"},
            "versionMetadata": {"v": 1}}, prov={"model": "m-1", "pipelineVersion": "import 2"})
        payload = data["createArtifact"]
        artifact = payload["artifact"]
        assert payload["created"] is True
        assert (artifact["kind"], artifact["title"], artifact["source"]) == ("DOCUMENT", "t", "api")
        assert artifact["metadata"] == {"p": "apollo"}
        [version] = artifact["versions"]
        assert (version["versionNumber"], version["content"], version["metadata"]) == \
            (1, "Grüße 👋🏽", {"v": 1})
        assert artifact["provenance"] == [{"model": "m-1", "pipelineVersion": "import 2"}]
        rest = (await client.get(f"/api/v1/artifacts/{artifact['id']}")).json()
        assert rest["latest_version_number"] == 1
        assert rest["versions"][0]["id"] == version["id"]

    async def test_repeated_external_id_returns_existing(self, client):
        """The same (source, externalId) again returns the existing artifact, created=false."""
        first = await ok(client, CREATE_ARTIFACT, input={
            "kind": "NOTE", "content": "a", "source": "export", "externalId": "c-1"})
        again = await ok(client, CREATE_ARTIFACT, input={
            "kind": "NOTE", "content": "other", "source": "export", "externalId": "c-1"})
        assert again["createArtifact"]["created"] is False
        assert again["createArtifact"]["artifact"]["id"] == first["createArtifact"]["artifact"]["id"]
        assert [v["content"] for v in again["createArtifact"]["artifact"]["versions"]] == ["a"]

    async def test_append_version_numbers_and_dedupes(self, client):
        """appendVersion makes version 2; the same content again returns it, created=false."""
        artifact = await make_artifact(client, content="one")
        first = (await ok(client, APPEND, id=artifact["id"], content="two",
                          prov={"model": "m"}))["appendVersion"]
        assert first["created"] is True
        assert (first["version"]["versionNumber"], first["version"]["contentLength"]) == (2, 3)
        assert first["version"]["provenance"] == [{"model": "m"}]
        again = (await ok(client, APPEND, id=artifact["id"], content="two"))["appendVersion"]
        assert again["created"] is False
        assert again["version"]["id"] == first["version"]["id"]
        rest = (await client.get(f"/api/v1/artifacts/{artifact['id']}/versions/2")).json()
        assert (rest["content"], rest["metadata"]) == ("two", {"step": 2})

    async def test_append_to_unknown_artifact_is_not_found(self, client):
        """An artifact id that does not exist is not_found."""
        error = await fails(client, APPEND, "not_found", id=MISSING, content="x")
        assert MISSING in error["message"]

    async def test_nul_character_and_non_object_metadata_are_invalid(self, client):
        """NUL in content and non-object metadata are refused by the service's validation."""
        error = await fails(client, CREATE_ARTIFACT, "invalid",
                            input={"kind": "NOTE", "content": "a\x00b"})
        assert "NUL" in error["message"]
        await fails(client, CREATE_ARTIFACT, "invalid",
                    input={"kind": "NOTE", "content": "x", "metadata": [1, 2]})
        assert (await client.get("/api/v1/artifacts")).json()["items"] == []

    async def test_content_over_limit_uses_the_configured_maximum(self, app, client):
        """The request's settings bound the content, as over REST (payload_too_large)."""
        app.state.settings.max_content_chars = 10
        error = await fails(client, CREATE_ARTIFACT, "payload_too_large",
                            input={"kind": "NOTE", "content": "x" * 11})
        assert error["extensions"]["details"]["max_chars"] == 10


class TestSpans:
    async def test_create_span_by_version_id_and_by_number(self, client):
        """A span named either way covers the exact characters (code points)."""
        artifact = await make_artifact(client, content="héllo wörld")
        version_id = artifact["versions"][0]["id"]
        by_id = (await ok(client, CREATE_SPAN, input={
            "versionId": version_id, "startOffset": 6, "endOffset": 11,
            "spanType": "quote"}))["createSpan"]
        assert (by_id["text"], by_id["spanType"]) == ("wörld", "quote")
        by_number = (await ok(client, CREATE_SPAN, input={
            "artifactId": artifact["id"], "versionNumber": 1, "startOffset": 0,
            "endOffset": 5}))["createSpan"]
        assert (by_number["text"], by_number["version"]["versionNumber"]) == ("héllo", 1)
        rest = (await client.get(f"/api/v1/spans/{by_number['id']}")).json()
        assert rest["text"] == "héllo"

    async def test_bad_offsets_state_the_valid_range(self, client):
        """Offsets past the content are invalid, and the message gives 0..length."""
        artifact = await make_artifact(client, content="hello world")
        error = await fails(client, CREATE_SPAN, "invalid", input={
            "versionId": artifact["versions"][0]["id"], "startOffset": 3, "endOffset": 12})
        assert "0 <= start_offset < end_offset <= 11" in error["message"]
        assert error["extensions"]["details"] == {"min": 0, "max": 11}

    async def test_version_named_both_ways_is_invalid(self, client):
        """versionId together with artifactId + versionNumber is refused by the service model."""
        artifact = await make_artifact(client)
        error = await fails(client, CREATE_SPAN, "invalid", input={
            "versionId": artifact["versions"][0]["id"], "artifactId": artifact["id"],
            "versionNumber": 1, "startOffset": 0, "endOffset": 1})
        assert "not both" in error["message"]

    async def test_unknown_version_is_not_found(self, client):
        """A version id that does not exist is not_found."""
        await fails(client, CREATE_SPAN, "not_found",
                    input={"versionId": MISSING, "startOffset": 0, "endOffset": 1})


class TestIntents:
    async def test_create_intent_in_group_with_evidence(self, client):
        """createIntent lands in its group with provenance whose evidence is the span's text."""
        artifact = await make_artifact(client, content="please move the sync to Thursday")
        span = await make_span(client, version_id=artifact["versions"][0]["id"],
                               start_offset=7, end_offset=32)
        cadence = await group(client, "Cadence")
        created = await intent(client, "Move the sync", groupId=cadence["id"], confidence=0.8,
                               metadata={"k": "v"})
        assert created["group"] == {"id": cadence["id"], "name": "Cadence"}
        assert created["provenance"] == []
        data = await ok(client, CREATE_INTENT, input={"statement": "Thursdays"}, prov={
            "model": "gpt-x", "promptVersion": "p@3", "parameters": {"temperature": 0},
            "evidenceSpanIds": [span["id"]]})
        assert data["createIntent"]["provenance"] == [{
            "model": "gpt-x", "promptVersion": "p@3", "parameters": {"temperature": 0},
            "evidence": [{"text": "move the sync to Thursday"}]}]
        read = await ok(client, "query($id: UUID!) { intent(id: $id) { status "
                        "provenance { model evidence { text } } } }",
                        id=data["createIntent"]["id"])
        assert read["intent"] == {"status": "PROPOSED", "provenance": [
            {"model": "gpt-x", "evidence": [{"text": "move the sync to Thursday"}]}]}

    async def test_missing_evidence_rolls_back_the_intent(self, client):
        """Provenance naming a span that does not exist fails the write: no intent is left."""
        error = await fails(client, CREATE_INTENT, "invalid", input={"statement": "x"},
                            prov={"evidenceSpanIds": [MISSING]})
        assert error["extensions"]["details"]["missing_span_ids"] == [MISSING]
        assert (await client.get("/api/v1/intents")).json()["items"] == []

    async def test_bad_provenance_is_invalid_and_located(self, client):
        """A provenance field that breaks the service's rules names where it is."""
        error = await fails(client, CREATE_INTENT, "invalid", input={"statement": "x"},
                            prov={"parameters": ["not", "an", "object"]})
        assert "provenance.parameters" in error["message"]

    async def test_accept_then_reject_is_a_conflict(self, client):
        """proposed -> accepted works; accepted -> rejected is a conflict naming the status."""
        created = await intent(client)
        accepted = await ok(client, UPDATE_INTENT, id=created["id"], input={"status": "ACCEPTED"},
                            prov={"model": "reviewer"})
        assert accepted["updateIntent"]["status"] == "ACCEPTED"
        assert accepted["updateIntent"]["provenance"] == [{"model": "reviewer"}]
        error = await fails(client, UPDATE_INTENT, "conflict", id=created["id"],
                            input={"status": "REJECTED"})
        assert error["extensions"]["details"]["current_status"] == "accepted"
        rest = (await client.get(f"/api/v1/intents/{created['id']}")).json()
        assert rest["status"] == "accepted"

    async def test_null_group_removes_and_absent_group_keeps(self, client):
        """groupId: null leaves the group; leaving groupId out keeps it."""
        cadence = await group(client, "Cadence")
        created = await intent(client, groupId=cadence["id"])
        kept = await ok(client, UPDATE_INTENT, id=created["id"], input={"metadata": {"a": 1}})
        assert kept["updateIntent"]["groupId"] == cadence["id"]
        assert kept["updateIntent"]["metadata"] == {"a": 1}
        removed = await ok(client, UPDATE_INTENT, id=created["id"], input={"groupId": None})
        assert removed["updateIntent"]["groupId"] is None

    async def test_empty_update_is_invalid(self, client):
        """An update that names no field is invalid (the service's rule)."""
        created = await intent(client)
        error = await fails(client, UPDATE_INTENT, "invalid", id=created["id"], input={})
        assert "nothing to update" in error["message"]

    async def test_unknown_intent_is_not_found(self, client):
        """An intent id that does not exist is not_found."""
        await fails(client, UPDATE_INTENT, "not_found", id=MISSING, input={"status": "ACCEPTED"})

    async def test_unknown_enum_value_is_a_validation_error(self, client):
        """An enum value outside the schema is refused before execution: errors, no data."""
        created = await intent(client)
        literal = await client.post("/graphql", json={"query": (
            f'mutation {{ updateIntent(id: "{created["id"]}", input: {{status: MAYBE}}) '
            "{ status } }")})
        assert literal.status_code != 500
        assert literal.json()["errors"] and literal.json().get("data") is None
        variable = await gql(client, UPDATE_INTENT, id=created["id"], input={"status": "MAYBE"})
        assert variable["errors"] and variable.get("data") is None
        assert (await client.get(f"/api/v1/intents/{created['id']}")).json()["status"] == "proposed"

    async def test_malformed_uuid_variable_is_refused(self, client):
        """A variable that is not a UUID is a client error like a malformed literal
        (`invalid_query`, naming the value), not a masked internal one."""
        body = await gql(client, UPDATE_INTENT, id="not-a-uuid", input={"status": "ACCEPTED"})
        [error] = body["errors"]
        assert body.get("data") is None
        assert error["extensions"]["code"] == "invalid_query", error
        assert "not-a-uuid" in error["message"]


class TestIntentGroups:
    async def test_update_group_fields(self, client):
        """updateIntentGroup renames, deprecates, and clears the description with null."""
        created = (await ok(client, CREATE_GROUP, input={
            "name": "Cadence", "description": "when we meet"}))["createIntentGroup"]
        assert (created["status"], created["description"]) == ("ACTIVE", "when we meet")
        updated = await ok(client, UPDATE_GROUP, id=created["id"], input={
            "name": "Meetings", "status": "DEPRECATED", "description": None,
            "metadata": {"x": 1}})
        assert updated["updateIntentGroup"] == {
            "id": created["id"], "name": "Meetings", "description": None,
            "status": "DEPRECATED", "metadata": {"x": 1}}
        rest = (await client.get(f"/api/v1/intents/groups/{created['id']}")).json()
        assert (rest["name"], rest["status"]) == ("Meetings", "deprecated")
        # MERGED is reached only through a merge.
        await fails(client, UPDATE_GROUP, "invalid", id=created["id"], input={"status": "MERGED"})

    async def test_merge_moves_members_and_records_provenance(self, client):
        """The source becomes MERGED, its intents move, provenance lands on the source."""
        source, target = await group(client, "a"), await group(client, "b")
        await intent(client, "one", groupId=source["id"])
        await intent(client, "two", groupId=source["id"])
        data = (await ok(client, MERGE, source=source["id"], into=target["id"],
                         prov={"model": "dedupe"}))["mergeIntentGroups"]
        assert data["movedIntents"] == 2
        assert data["group"]["id"] == target["id"]
        assert sorted(i["statement"] for i in data["group"]["intents"]) == ["one", "two"]
        assert data["mergedGroup"] == {"id": source["id"], "status": "MERGED",
                                       "mergedIntoId": target["id"],
                                       "provenance": [{"model": "dedupe"}]}

    async def test_merging_into_or_from_a_merged_group_is_a_conflict(self, client):
        """A merged group can neither receive a merge, be merged again, nor change."""
        a, b, c = await group(client, "a"), await group(client, "b"), await group(client, "c")
        await ok(client, MERGE, source=a["id"], into=b["id"])
        into_merged = await fails(client, MERGE, "conflict", source=c["id"], into=a["id"])
        assert into_merged["extensions"]["details"]["merged_into_id"] == b["id"]
        await fails(client, MERGE, "conflict", source=a["id"], into=c["id"])
        await fails(client, UPDATE_GROUP, "conflict", id=a["id"], input={"name": "again"})

    async def test_merge_unknown_group_is_not_found(self, client):
        """Either group missing is not_found."""
        real = await group(client, "a")
        await fails(client, MERGE, "not_found", source=real["id"], into=MISSING)


class TestDecisions:
    async def test_create_then_promote(self, client):
        """A tentative decision is promoted to ACTIVE with a new rationale; none is created
        SUPERSEDED."""
        await fails(client, CREATE_DECISION, "invalid",
                    input={"statement": "x", "status": "SUPERSEDED"})
        created = await decision(client, status="TENTATIVE", rationale="maybe")
        assert created["status"] == "TENTATIVE"
        data = await ok(client, UPDATE_DECISION, id=created["id"],
                        input={"status": "ACTIVE", "rationale": None, "metadata": {"k": 1}})
        assert data["updateDecision"] == {"id": created["id"], "status": "ACTIVE",
                                          "rationale": None, "metadata": {"k": 1}}

    async def test_supersede_links_both_ways(self, client):
        """supersedeDecision returns both ends; the chain reads back through lineage."""
        old = await decision(client, "Use MySQL")
        data = (await ok(client, SUPERSEDE, id=old["id"], input={"statement": "Use PostgreSQL"},
                         prov={"model": "m"}))["supersedeDecision"]
        new_id = data["current"]["id"]
        assert data["superseded"] == {"id": old["id"], "status": "SUPERSEDED",
                                      "supersededById": new_id}
        assert data["current"]["supersedes"] == {"id": old["id"]}
        assert data["current"]["provenance"] == [{"model": "m"}]
        lineage = await ok(client, "query($id: UUID!) { decision(id: $id) { lineage { statement } } }",
                           id=old["id"])
        assert [d["statement"] for d in lineage["decision"]["lineage"]] == \
            ["Use MySQL", "Use PostgreSQL"]

    async def test_superseding_a_superseded_decision_is_a_conflict(self, client):
        """The conflict names the successor."""
        old = await decision(client, "v1")
        data = await ok(client, SUPERSEDE, id=old["id"], input={"statement": "v2"})
        error = await fails(client, SUPERSEDE, "conflict", id=old["id"], input={"statement": "v3"})
        assert error["extensions"]["details"]["superseded_by_id"] == \
            data["supersedeDecision"]["current"]["id"]

    async def test_unknown_decision_is_not_found(self, client):
        """Updating or superseding a missing decision is not_found."""
        await fails(client, UPDATE_DECISION, "not_found", id=MISSING, input={"status": "ACTIVE"})
        await fails(client, SUPERSEDE, "not_found", id=MISSING, input={"statement": "x"})


class TestRelations:
    async def test_create_read_and_delete(self, client):
        """createRelation links two entities; deleteRelation returns the id and removes it."""
        artifact = await make_artifact(client, content="hello world")
        span = await make_span(client, version_id=artifact["versions"][0]["id"])
        source = await intent(client, "greet")
        refs = {"source": {"type": "INTENT", "id": source["id"]}, "relationType": "derived_from",
                "target": {"type": "SPAN", "id": span["id"]}}
        created = (await ok(client, CREATE_RELATION, input=refs,
                            prov={"model": "linker"}))["createRelation"]
        assert created["source"] == {"__typename": "Intent", "statement": "greet"}
        assert created["target"] == {"__typename": "Span", "text": "hello"}
        assert created["provenance"] == [{"model": "linker"}]
        duplicate = await fails(client, CREATE_RELATION, "conflict", input=refs)
        assert duplicate["extensions"]["details"]["existing_id"] == created["id"]
        deleted = await ok(client, DELETE_RELATION, id=created["id"])
        assert deleted == {"deleteRelation": created["id"]}
        assert (await client.get(f"/api/v1/relations/{created['id']}")).status_code == 404
        await fails(client, DELETE_RELATION, "not_found", id=created["id"])

    async def test_missing_end_and_bad_type_are_invalid(self, client):
        """An end that does not exist is refused, naming it; so is a malformed type."""
        a, b = await intent(client, "a"), await intent(client, "b")
        error = await fails(client, CREATE_RELATION, "invalid", input={
            "source": {"type": "INTENT", "id": a["id"]}, "relationType": "supports",
            "target": {"type": "DECISION", "id": MISSING}})
        assert error["extensions"]["details"]["end"] == "target"
        await fails(client, CREATE_RELATION, "invalid", input={
            "source": {"type": "INTENT", "id": a["id"]}, "relationType": "Not Valid",
            "target": {"type": "INTENT", "id": b["id"]}})


class TestProvenance:
    async def test_create_provenance_for_an_existing_entity(self, client):
        """createProvenance records model and ordered evidence; the entity shows it."""
        artifact = await make_artifact(client, content="hello world")
        version_id = artifact["versions"][0]["id"]
        world = await make_span(client, version_id=version_id, start_offset=6, end_offset=11)
        hello = await make_span(client, version_id=version_id, start_offset=0, end_offset=5)
        target = await decision(client)
        data = (await ok(client, CREATE_PROVENANCE, target={"type": "DECISION", "id": target["id"]},
                         input={"model": "m", "evidenceSpanIds": [world["id"], hello["id"]]}))
        record = data["createProvenance"]
        assert (record["targetType"], record["targetId"]) == ("DECISION", target["id"])
        assert record["evidence"] == [{"text": "world"}, {"text": "hello"}]
        read = await ok(client, "query($id: UUID!) { decision(id: $id) { provenance { model "
                        "evidence { text } } } }", id=target["id"])
        assert read["decision"]["provenance"] == [
            {"model": "m", "evidence": [{"text": "world"}, {"text": "hello"}]}]

    async def test_unknown_target_is_not_found_and_empty_is_invalid(self, client):
        """Provenance for an entity that does not exist is not_found; with nothing in it,
        invalid."""
        await fails(client, CREATE_PROVENANCE, "not_found",
                    target={"type": "INTENT", "id": MISSING}, input={"model": "m"})
        target = await intent(client)
        await fails(client, CREATE_PROVENANCE, "invalid",
                    target={"type": "INTENT", "id": target["id"]}, input={})


class TestRequestBehaviour:
    async def test_later_mutation_sees_earlier_writes(self, client):
        """Two mutations in one request: the second's nested fields are not stale."""
        created = await intent(client)
        query = """
        mutation($id: UUID!) {
          first: updateIntent(id: $id, input: {metadata: {a: 1}}, provenance: {model: "one"}) {
            provenance { model } }
          second: updateIntent(id: $id, input: {status: ACCEPTED}, provenance: {model: "two"}) {
            status provenance { model } }
        }"""
        data = await ok(client, query, id=created["id"])
        assert data["first"]["provenance"] == [{"model": "one"}]
        assert data["second"] == {"status": "ACCEPTED",
                                  "provenance": [{"model": "one"}, {"model": "two"}]}

    async def test_unexpected_exception_is_masked(self, client, monkeypatch):
        """An exception that is not a domain error comes back as `internal`, without detail."""
        from mimir.intents import service

        async def broken(*args, **kwargs):
            raise RuntimeError("secret detail")

        monkeypatch.setattr(service, "create_intent", broken)
        response = await client.post("/graphql", json={
            "query": CREATE_INTENT, "variables": {"input": {"statement": "x"}}})
        assert "secret detail" not in response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "internal"
