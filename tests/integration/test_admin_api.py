"""The admin API for namespaces and keys (issue 16): who may call it, what it validates,
what it writes to the audit log, and that a key cannot revoke itself."""

from __future__ import annotations

import httpx
import pytest


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    """An admin key made while no key exists yet (no auth needed until then)."""
    response = await client.post("/api/v1/admin/keys", json={"name": "root", "scope": "admin"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["namespaces"] is None and body["key"].startswith("mimir_")
    return {"Authorization": f"Bearer {body['key']}", "x-key-id": body["id"]}


async def test_namespaces_and_keys_lifecycle(client):
    admin = await _admin(client)
    key_id = admin.pop("x-key-id")
    made = await client.post("/api/v1/admin/namespaces", headers=admin,
                             json={"name": "team-a", "description": "Team A"})
    assert made.status_code == 201, made.text
    assert made.json()["created_by"].startswith("key:mimir_")
    again = await client.post("/api/v1/admin/namespaces", headers=admin, json={"name": "team-a"})
    assert again.status_code == 409
    names = [n["name"] for n in (await client.get("/api/v1/admin/namespaces",
                                                  headers=admin)).json()["items"]]
    assert names == ["default", "team-a"]

    # A write key bound to team-a, then default: its requests go to team-a by default.
    made = await client.post("/api/v1/admin/keys", headers=admin, json={
        "name": "agent", "scope": "write", "namespaces": ["team-a", "default", "team-a"]})
    assert made.status_code == 201, made.text
    assert made.json()["namespaces"] == ["team-a", "default"]
    agent = {"Authorization": f"Bearer {made.json()['key']}"}
    note = await client.post("/api/v1/artifacts", headers=agent,
                             json={"kind": "note", "content": "only in team a"})
    assert note.status_code == 201
    in_a = (await client.get("/api/v1/artifacts", headers={**agent, "X-Mimir-Namespace": "team-a"})
            ).json()["items"]
    in_default = (await client.get("/api/v1/artifacts",
                                   headers={**agent, "X-Mimir-Namespace": "default"})).json()["items"]
    assert [a["id"] for a in in_a] == [note.json()["id"]] and in_default == []

    # A non-admin key cannot use the admin API.
    assert (await client.get("/api/v1/admin/keys", headers=agent)).status_code == 403
    assert (await client.post("/api/v1/admin/namespaces", headers=agent,
                              json={"name": "sneaky"})).status_code == 403

    # The audit log has every change, newest first, without the keys themselves.
    entries = (await client.get("/api/v1/admin/audit", headers=admin)).json()["items"]
    assert [e["action"] for e in entries][:3] == ["key.create", "namespace.create", "key.create"]
    assert made.json()["key"] not in str(entries)

    # A key cannot revoke itself; another admin key can.
    own = await client.delete(f"/api/v1/admin/keys/{key_id}", headers=admin)
    assert own.status_code == 409 and own.json()["error"]["code"] == "conflict"
    gone = await client.delete(f"/api/v1/admin/keys/{made.json()['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/artifacts", headers=agent)).status_code == 401


@pytest.mark.parametrize("body", [
    {"name": "Upper"}, {"name": "-lead"}, {"name": "x" * 64}, {"name": ""},
    {"name": "ok", "extra": 1}, {"name": "ok", "description": "d" * 2001},
])
async def test_bad_namespaces_are_422(client, body):
    response = await client.post("/api/v1/admin/namespaces", json=body)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("body,status", [
    ({"name": "k", "scope": "admin", "namespaces": ["default"]}, 422),
    ({"name": "k", "scope": "write", "namespaces": ["missing"]}, 404),
    ({"name": "k", "scope": "write", "namespaces": []}, 422),
    ({"name": "k", "scope": "owner"}, 422),
    ({"name": " ", "scope": "read"}, 422),
])
async def test_bad_keys_are_refused_and_not_stored(client, body, status):
    response = await client.post("/api/v1/admin/keys", json=body)
    assert response.status_code == status, response.text
    assert (await client.get("/api/v1/admin/keys")).json()["items"] == []


async def test_namespace_header_errors(client):
    assert (await client.get("/api/v1/artifacts",
                             headers={"X-Mimir-Namespace": "Bad Name"})).status_code == 400
    assert (await client.get("/api/v1/artifacts",
                             headers={"X-Mimir-Namespace": "nowhere"})).status_code == 404
    both = [("X-Mimir-Namespace", "default"), ("X-Mimir-Namespace", "default")]
    assert (await client.get("/api/v1/artifacts", headers=both)).status_code == 400
