"""Erasure and the audit log under namespaces (issue 16): erasing in one namespace never
touches another's rows, even where their sources overlap; scope `namespace` works from
inside the namespace only; audit entries carry the namespace and page by cursor; the CLI
manages namespaces and keys (audited) and erases in a namespace."""

from __future__ import annotations

import json
import subprocess

import psycopg
from psycopg.rows import dict_row

from tests.factories import insert_version
from tests.faults import MIMIR, mimir_env

A, B = {"X-Mimir-Namespace": "team-a"}, {"X-Mimir-Namespace": "team-b"}
MARK_A, MARK_B = "alphamark7q", "betamark9z"


def _rows(conninfo: str, query: str, *params) -> list[dict]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def _content_by_namespace(conninfo: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in _rows(conninfo, "SELECT namespace, content FROM artifact_versions"
                               " ORDER BY namespace, content"):
        found.setdefault(row["namespace"], []).append(row["content"])
    return found


async def _setup(client) -> None:
    for name in ("team-a", "team-b"):
        response = await client.post("/api/v1/admin/namespaces", json={"name": name})
        assert response.status_code == 201, response.text
    for headers, mark in ((A, MARK_A), (B, MARK_B)):
        for n in range(2):
            response = await client.post("/api/v1/artifacts", headers=headers, json={
                "kind": "note", "content": f"{mark} note {n}", "source": "chat",
                "external_id": f"c{n}"})
            assert response.status_code == 201, response.text


async def _erase(client, headers, scope: str, target: str, status: int = 201) -> dict:
    response = await client.post("/api/v1/admin/erasures", headers=headers, json={
        "scope": scope, "target": target, "reason": "asked", "vacuum": False})
    assert response.status_code == status, response.text
    return response.json()


async def test_erasing_a_source_in_one_namespace_leaves_the_other(client, db_conninfo):
    """Both namespaces hold source `chat` with the same external ids: erasing the source in
    team-a empties team-a's versions only; the audit entry is team-a's."""
    await _setup(client)
    record = await _erase(client, A, "source", "chat")
    assert record["counts"]["versions"] == 2
    content = _content_by_namespace(db_conninfo)
    assert content["team-a"] == ["", ""]
    assert content["team-b"] == [f"{MARK_B} note 0", f"{MARK_B} note 1"]
    hits = _rows(db_conninfo, "SELECT count(*) AS n FROM search_postings WHERE namespace ="
                              " 'team-b' AND lexeme = %s", MARK_B.lower())
    assert hits[0]["n"] == 2
    audit = (await client.get("/api/v1/admin/audit", params={"action": "erasure"})).json()
    assert [entry["namespace"] for entry in audit["items"]] == ["team-a"]


async def test_namespace_scope_only_from_inside(client, db_conninfo):
    """Scope `namespace` erases everything of the request's namespace; naming another
    namespace is refused and erases nothing; an empty or unknown one is not found."""
    await _setup(client)
    refused = await _erase(client, A, "namespace", "team-b", status=422)
    assert "only be erased from inside" in refused["error"]["message"]
    assert _content_by_namespace(db_conninfo)["team-b"][0].startswith(MARK_B)
    record = await _erase(client, B, "namespace", "team-b")
    assert record["scope"] == "namespace" and record["counts"]["versions"] == 2
    content = _content_by_namespace(db_conninfo)
    assert content["team-b"] == ["", ""] and content["team-a"][0].startswith(MARK_A)
    await _erase(client, {}, "namespace", "default", status=404)  # nothing in it
    bad = await _erase(client, A, "namespace", "Team A", status=422)
    assert "namespace name" in json.dumps(bad)


async def test_graphql_erases_the_requests_namespace(client, db_conninfo):
    """The GraphQL mutation with scope NAMESPACE erases the request's namespace only."""
    await _setup(client)
    mutation = ('mutation { erase(input: {scope: NAMESPACE, target: "team-a", reason: "r", '
                'vacuum: false}) { scope counts } }')
    refused = (await client.post("/graphql", headers=B, json={"query": mutation})).json()
    assert "only be erased from inside" in refused["errors"][0]["message"]
    done = (await client.post("/graphql", headers=A, json={"query": mutation})).json()
    assert done["data"]["erase"]["scope"] == "NAMESPACE"
    assert done["data"]["erase"]["counts"]["versions"] == 2
    content = _content_by_namespace(db_conninfo)
    assert content["team-a"] == ["", ""] and content["team-b"][0].startswith(MARK_B)


async def test_audit_log_pages_by_cursor_and_filters_by_namespace(client):
    """Entries show their namespace; `after` walks the log newest first without repeats;
    `namespace` keeps one namespace's entries."""
    await _setup(client)
    await _erase(client, A, "artifact", (await client.get(
        "/api/v1/artifacts", headers=A)).json()["items"][0]["id"])
    await _erase(client, B, "source", "chat")
    seen, after = [], None
    while True:
        params = {"limit": 1, **({"after": after} if after else {})}
        page = (await client.get("/api/v1/admin/audit", params=params)).json()
        seen += [(entry["action"], entry["namespace"]) for entry in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [("erasure", "team-b"), ("erasure", "team-a"),
                    ("namespace.create", "team-b"), ("namespace.create", "team-a")]
    only_a = (await client.get("/api/v1/admin/audit", params={"namespace": "team-a"})).json()
    assert [(e["action"], e["namespace"]) for e in only_a["items"]] == [
        ("erasure", "team-a"), ("namespace.create", "team-a")]
    assert only_a["next"] is None
    bad = await client.get("/api/v1/admin/audit", params={"after": "not-a-cursor"})
    assert bad.status_code == 422


def test_cli_namespaces_keys_and_erase(db_conninfo):
    """`mimir namespaces create/list`, `mimir keys create --namespace/list` (audited as
    cli:<user>), and `mimir erase namespace N` erasing N only."""

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([MIMIR, *args], check=False, capture_output=True, text=True,
                              timeout=120, env=mimir_env(db_conninfo))
        return done

    created = run("namespaces", "create", "team-a", "--description", "Team A")
    assert created.returncode == 0, created.stderr
    assert run("namespaces", "create", "team-a").returncode == 2  # exists already
    assert "team-a" in run("namespaces", "list").stdout
    key = run("keys", "create", "--name", "agent", "--scope", "write", "--namespace", "team-a")
    assert key.returncode == 0 and key.stdout.startswith("mimir_"), key.stderr
    assert run("keys", "create", "--name", "x", "--namespace", "nowhere").returncode == 2
    listed = run("keys", "list").stdout
    assert "team-a" in listed and "agent" in listed
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        for space in ("team-a", "default"):
            insert_version(conn, namespace=space, content=space, source="chat")
    erased = run("erase", "namespace", "team-a", "--reason", "project closed", "--no-vacuum")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["counts"]["versions"] == 1
    content = _content_by_namespace(db_conninfo)
    assert content == {"team-a": [""], "default": ["default"]}
    audit = _rows(db_conninfo, "SELECT action, actor, namespace FROM audit_log"
                               " ORDER BY created_at")
    assert [(r["action"], r["namespace"]) for r in audit] == [
        ("namespace.create", "team-a"), ("key.create", None), ("erasure", "team-a")]
    assert all(r["actor"].startswith("cli:") for r in audit)
