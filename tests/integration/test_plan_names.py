"""A client that knows only the plan's names, over real HTTP against `mimir serve`: REST with
the plan's snake_case bodies and GraphQL with their camelCase, through create, version,
span, intent, provenance, supersede, relation, search and reading provenance back. The
old GraphQL names stay as deprecated aliases (both given with different values is an
error, as in REST)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.faults import Server, mimir_env

API = "/api/v1"


@pytest.fixture
def server(db_conninfo, tmp_path):
    """`mimir serve` on this test's database (no worker, no embeddings)."""
    env = mimir_env(db_conninfo, MIMIR_DATA_DIR=str(tmp_path / "unused"), MIMIR_WORKER="off",
                    MIMIR_EMBEDDING_PROVIDER="none", MIMIR_RATE_LIMIT_PER_MINUTE="0")
    mimir = Server(env, tmp_path / "mimir.log").start()
    try:
        with httpx.Client(base_url=mimir.base_url, timeout=30) as client:
            yield client
    finally:
        mimir.stop()


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _gql(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_rest_client_using_only_the_plans_names(server, db_conninfo):
    """Every write and read of the plan's API with the plan's field names; each value comes
    back under the plan's name and lands in the column of that name."""
    artifact = _created(server.post(f"{API}/artifacts/", json={
        "artifact_type": "conversation", "source": "chatgpt_export",
        "content": "User: we ship on Friday\nAssistant: noted"}))
    assert artifact["artifact_type"] == "conversation"
    version = _created(server.post(f"{API}/artifacts/{artifact['id']}/versions", json={
        "content": "User: we ship on Thursday\nAssistant: noted", "created_by": "user:maya"}))
    assert (version["version_number"], version["created_by"]) == (2, "user:maya")
    span = _created(server.post(f"{API}/spans/", json={
        "artifact_version_id": version["id"], "start_offset": 6, "end_offset": 25,
        "span_type": "evidence"}))
    assert span["artifact_version_id"] == version["id"]
    assert span["text"] == "we ship on Thursday"
    group = _created(server.post(f"{API}/intents/groups", json={"name": "release timing"}))
    intent = _created(server.post(f"{API}/intents/", json={
        "statement": "Ship on Thursday", "intent_group_id": group["id"],
        "proposed_by": "gpt-4-turbo"}))
    assert (intent["intent_group_id"], intent["proposed_by"]) == (group["id"], "gpt-4-turbo")
    record = _created(server.post(f"{API}/provenance/", json={
        "target_type": "intent", "target_id": intent["id"], "model_id": "gpt-4-turbo",
        "prompt_version": "extract@2", "evidence_span_ids": [span["id"]],
        "metadata": {"temperature": 0.1}}))
    assert (record["model_id"], record["metadata"]) == ("gpt-4-turbo", {"temperature": 0.1})
    old = _created(server.post(f"{API}/decisions/", json={"statement": "Ship on Friday"}))
    new = _created(server.post(f"{API}/decisions/", json={"statement": "Ship on Thursday"}))
    superseded = server.patch(f"{API}/decisions/{old['id']}",
                              json={"status": "superseded", "superseded_by_id": new["id"]})
    assert superseded.status_code == 200, superseded.text
    assert superseded.json()["superseded"]["superseded_by_id"] == new["id"]
    relation = _created(server.post(f"{API}/relations/", json={
        "source_type": "decision", "source_id": new["id"], "relation_type": "derived_from",
        "target_type": "span", "target_id": span["id"]}))
    hits = server.post(f"{API}/search/text", json={"query": "Thursday"})
    assert hits.status_code == 200, hits.text
    assert artifact["id"] in {h.get("artifact_id") for h in hits.json()["hits"]}
    chain = server.get(f"{API}/provenance/intent/{intent['id']}")
    assert chain.status_code == 200, chain.text
    assert [(p["model_id"], p["evidence_span_ids"]) for p in chain.json()] == [
        ("gpt-4-turbo", [span["id"]])]
    listed = server.get(f"{API}/intents", params={"intent_group_id": group["id"]}).json()
    assert [i["id"] for i in listed["items"]] == [intent["id"]]
    with psycopg.connect(db_conninfo) as conn:
        stored = conn.execute(
            "SELECT a.artifact_type::text, s.artifact_version_id, i.intent_group_id, p.model_id, "
            "p.metadata FROM artifacts a, spans s, intents i, provenance p "
            "WHERE a.id = %s AND s.id = %s AND i.id = %s AND p.id = %s",
            (artifact["id"], span["id"], intent["id"], record["id"])).fetchone()
    assert [str(v) if i in (1, 2) else v for i, v in enumerate(stored)] == [
        "conversation", version["id"], group["id"], "gpt-4-turbo", {"temperature": 0.1}]
    assert relation["relation_type"] == "derived_from"


CREATE = """
mutation($content: String!) {
  createArtifact(input: {artifactType: DOCUMENT, source: "user_upload", content: $content,
                         createdBy: "user:maya"}) {
    artifact { id artifactType latestVersion { id createdBy } }
  }
}"""


def test_graphql_client_using_the_plans_camel_case_names(server):
    """The same flow through GraphQL with the plan's names in camelCase, read back on both
    read paths (the compiled SQL for plain reads, the resolvers otherwise)."""
    created = _gql(server, CREATE, {"content": "We will ship on Thursday."})
    artifact = created["createArtifact"]["artifact"]
    assert artifact["artifactType"] == "DOCUMENT"
    assert artifact["latestVersion"]["createdBy"] == "user:maya"
    version = _gql(server, """mutation($id: UUID!) {
        appendVersion(artifactId: $id, input: {content: "We ship on Thursday at noon.",
                                               createdBy: "importer"}) {
          version { id versionNumber createdBy } } }""", {"id": artifact["id"]})
    version = version["appendVersion"]["version"]
    assert (version["versionNumber"], version["createdBy"]) == (2, "importer")
    span = _gql(server, """mutation($v: UUID!) {
        createSpan(input: {artifactVersionId: $v, startOffset: 3, endOffset: 19,
                           spanType: "evidence"}) { id artifactVersionId text } }""",
                {"v": version["id"]})["createSpan"]
    assert (span["artifactVersionId"], span["text"]) == (version["id"], "ship on Thursday")
    group = _gql(server, 'mutation { createIntentGroup(input: {name: "timing"}) { id } }')
    group_id = group["createIntentGroup"]["id"]
    intent = _gql(server, """mutation($g: UUID!, $s: UUID!) {
        createIntent(input: {statement: "Ship Thursday", intentGroupId: $g, proposedBy: "human"},
                     provenance: {modelId: "gpt-4-turbo", evidenceSpanIds: [$s],
                                  metadata: {temperature: 0}}) {
          id intentGroupId proposedBy } }""", {"g": group_id, "s": span["id"]})["createIntent"]
    assert (intent["intentGroupId"], intent["proposedBy"]) == (group_id, "human")
    moved = _gql(server, """mutation($id: UUID!) {
        updateIntent(id: $id, input: {intentGroupId: null, status: ACCEPTED}) {
          intentGroupId status } }""", {"id": intent["id"]})["updateIntent"]
    assert moved == {"intentGroupId": None, "status": "ACCEPTED"}
    old = _gql(server, 'mutation { createDecision(input: {statement: "Friday"}) { id } }')
    new = _gql(server, 'mutation { createDecision(input: {statement: "Thursday"}) { id } }')
    old_id, new_id = old["createDecision"]["id"], new["createDecision"]["id"]
    result = _gql(server, """mutation($id: UUID!, $by: UUID!) {
        supersedeDecision(id: $id, supersededById: $by) {
          superseded { id status supersededById } current { id status } } }""",
                  {"id": old_id, "by": new_id})["supersedeDecision"]
    assert result["superseded"] == {"id": old_id, "status": "SUPERSEDED", "supersededById": new_id}
    assert result["current"] == {"id": new_id, "status": "ACTIVE"}
    _gql(server, """mutation($d: UUID!, $s: UUID!) {
        createRelation(input: {source: {type: DECISION, id: $d}, relationType: "derived_from",
                               target: {type: SPAN, id: $s}}) { id } }""",
         {"d": new_id, "s": span["id"]})
    hits = _gql(server, """{ search(query: "Thursday", mode: TEXT) {
        entity { __typename ... on ArtifactVersion { artifactId } } } }""")["search"]
    assert {"__typename": "ArtifactVersion", "artifactId": artifact["id"]} in [
        h["entity"] for h in hits]
    read = _gql(server, """query($id: UUID!) { intent(id: $id) {
        intentGroupId proposedBy provenance { modelId metadata evidenceSpanIds
          evidence { id artifactVersionId } } } }""", {"id": intent["id"]})["intent"]
    assert read["provenance"] == [{"modelId": "gpt-4-turbo", "metadata": {"temperature": 0},
                                   "evidenceSpanIds": [span["id"]],
                                   "evidence": [{"id": span["id"],
                                                 "artifactVersionId": version["id"]}]}]
    listed = _gql(server, """{ artifacts(filter: {artifact_type: "document"}) {
        edges { node { id artifactType } } } }""")["artifacts"]["edges"]
    assert [e["node"] for e in listed] == [{"id": artifact["id"], "artifactType": "DOCUMENT"}]


def test_graphql_old_names_are_deprecated_aliases(server):
    """Old field names still read and write the same values; the schema marks them
    deprecated; an input with both names and different values is refused."""
    created = _gql(server, """mutation { createArtifact(input: {kind: NOTE, content: "hi"}) {
        artifact { id kind artifactType latestVersion { id } } } }""")["createArtifact"]
    artifact = created["artifact"]
    assert artifact["kind"] == artifact["artifactType"] == "NOTE"
    version_id = artifact["latestVersion"]["id"]
    span = _gql(server, """mutation($v: UUID!) {
        createSpan(input: {versionId: $v, startOffset: 0, endOffset: 2}) {
          versionId artifactVersionId } }""", {"v": version_id})["createSpan"]
    assert span == {"versionId": version_id, "artifactVersionId": version_id}
    record = _gql(server, """mutation($id: UUID!) {
        createProvenance(target: {type: ARTIFACT, id: $id},
                         input: {model: "m1", parameters: {k: 1}}) {
          model modelId parameters metadata } }""", {"id": artifact["id"]})["createProvenance"]
    assert record == {"model": "m1", "modelId": "m1", "parameters": {"k": 1}, "metadata": {"k": 1}}
    conflict = server.post("/graphql", json={"query": """mutation {
        createArtifact(input: {kind: NOTE, artifactType: DOCUMENT, content: "x"}) {
          artifact { id } } }"""}).json()
    assert conflict["errors"][0]["extensions"]["code"] == "invalid", conflict
    assert "artifact_type" in conflict["errors"][0]["message"], conflict
    missing = server.post("/graphql", json={"query": """mutation {
        createArtifact(input: {content: "x"}) { artifact { id } } }"""}).json()
    assert missing["errors"][0]["extensions"]["code"] == "invalid", missing
    fields = _gql(server, """{ __type(name: "Artifact") {
        fields(includeDeprecated: true) { name isDeprecated deprecationReason } } }""")
    by_name = {f["name"]: f for f in fields["__type"]["fields"]}
    assert by_name["kind"]["deprecationReason"] == "use artifactType"
    assert by_name["artifactType"]["isDeprecated"] is False


def test_graphql_supersede_needs_exactly_one_successor(server):
    decision = _gql(server, 'mutation { createDecision(input: {statement: "a"}) { id } }')
    decision_id = decision["createDecision"]["id"]
    for arguments in ("", ', input: {statement: "b"}, supersededById: "' + decision_id + '"'):
        body = server.post("/graphql", json={"query": f"""mutation {{
            supersedeDecision(id: "{decision_id}"{arguments}) {{ current {{ id }} }} }}"""}).json()
        assert body["errors"][0]["extensions"]["code"] == "invalid", body
    itself = server.post("/graphql", json={"query": f"""mutation {{
        supersedeDecision(id: "{decision_id}", supersededById: "{decision_id}") {{
          current {{ id }} }} }}"""}).json()
    assert itself["errors"][0]["extensions"]["code"] == "conflict", itself
