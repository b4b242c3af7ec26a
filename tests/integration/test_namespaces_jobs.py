"""Namespaces in the job queue (issue 16): a job runs in the namespace it was deferred in,
the indexing pool runs under row-level security, backfill queues each version in its own
namespace, and the jobs API shows the request's namespace only."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest

from mimir.app import create_app
from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from mimir.embeddings.tasks import INDEX_VERSION, backfill
from mimir.jobs.app import defer_in_transaction
from mimir.namespaces import context as namespace_context
from tests.factories import insert_version

A, B = {"X-Mimir-Namespace": "team-a"}, {"X-Mimir-Namespace": "team-b"}
TEXT = ("To bake sourdough bread, feed the starter the night before, mix flour and water, "
        "let the dough rise slowly and bake it in a very hot oven.")


async def _drain(http: httpx.AsyncClient, headers: dict[str, str], within_s: float = 120) -> dict:
    for _ in range(int(within_s * 4)):
        stats = (await http.get("/api/v1/jobs", headers=headers)).json()
        if stats["by_status"]["todo"] + stats["by_status"]["doing"] == 0:
            return stats
        await asyncio.sleep(0.25)
    raise AssertionError(f"queue did not drain: {stats}")


@pytest.fixture
async def two_spaces(db_conninfo, tmp_path):
    """An app with the in-process worker and the local model, and namespaces team-a and
    team-b (no keys: every request may choose its namespace)."""
    settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path), MIMIR_WORKER="inprocess")
    app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as http:
        for name in ("team-a", "team-b"):
            response = await http.post("/api/v1/admin/namespaces", json={"name": name})
            assert response.status_code == 201, response.text
        yield http


async def test_worker_indexes_in_the_writers_namespace(two_spaces, db_conninfo):
    """A version written in team-a is chunked and embedded by the worker in team-a; semantic
    search in team-a finds it, in team-b it does not; each namespace's jobs API counts its
    own jobs only."""
    http = two_spaces
    response = await http.post("/api/v1/artifacts", headers=A,
                               json={"kind": "document", "title": "bread", "content": TEXT})
    assert response.status_code == 201, response.text
    artifact_id = response.json()["id"]
    stats_a = await _drain(http, A)
    assert stats_a["by_status"]["succeeded"] >= 1 and stats_a["by_status"]["failed"] == 0
    stats_b = (await http.get("/api/v1/jobs", headers=B)).json()
    assert stats_b["total"] == 0
    with psycopg.connect(db_conninfo) as conn:
        spaces = conn.execute("SELECT DISTINCT s.namespace FROM spans s JOIN artifact_versions v"
                              " ON v.id = s.artifact_version_id WHERE v.artifact_id = %s"
                              " AND s.span_type = 'chunk'", (artifact_id,)).fetchall()
        vectors = conn.execute("SELECT DISTINCT namespace FROM embeddings").fetchall()
        args = conn.execute("SELECT args->>'namespace' FROM procrastinate_jobs"
                            " WHERE task_name = %s", (INDEX_VERSION,)).fetchall()
    assert spaces == [("team-a",)] and vectors == [("team-a",)] and args == [("team-a",)]
    query = {"query": "how do I make a loaf at home?", "entity_types": ["artifact_version"]}
    hits_a = (await http.post("/api/v1/search/semantic", headers=A, json=query)).json()["hits"]
    hits_b = (await http.post("/api/v1/search/semantic", headers=B, json=query)).json()["hits"]
    assert hits_a and hits_a[0]["artifact_id"] == artifact_id
    assert hits_b == []


async def test_backfill_queues_each_version_in_its_namespace(db_conninfo, tmp_path):
    """Backfill scans every namespace as the owner and queues each version with its own
    namespace."""
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO namespaces (name) VALUES ('team-a'), ('team-b')")
        for space in ("team-a", "team-b"):
            insert_version(conn, namespace=space, content=f"text of {space}")
    assert await backfill(db_conninfo) == 2
    with psycopg.connect(db_conninfo) as conn:
        rows = conn.execute("SELECT v.namespace, j.args->>'namespace' FROM procrastinate_jobs j"
                            " JOIN artifact_versions v ON v.id = (j.args->>'version_id')::uuid"
                            " ORDER BY 1").fetchall()
    assert rows == [("team-a", "team-a"), ("team-b", "team-b")]


async def test_a_namespaced_job_needs_a_namespace(db_conninfo):
    """Deferring a namespaced job with no namespace in force is refused; inside one, the
    job carries it."""
    async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True) as conn:
        with pytest.raises(RuntimeError, match="needs a namespace"):
            async with conn.transaction():
                await defer_in_transaction(conn, INDEX_VERSION, version_id="x")
        with namespace_context.use("default"):
            async with conn.transaction():
                job_id = await defer_in_transaction(conn, INDEX_VERSION, version_id="x")
        row = await (await conn.execute("SELECT args FROM procrastinate_jobs WHERE id = %s",
                                        (job_id,))).fetchone()
    assert row[0] == {"version_id": "x", "namespace": "default"}


async def test_jobs_api_shows_the_requests_namespace_only(client, db_conninfo):
    """Counts and failures are of the request's namespace (a job without a namespace
    argument is `default`'s), for admin and other keys alike."""
    for name in ("team-a", "team-b"):
        assert (await client.post("/api/v1/admin/namespaces", json={"name": name})
                ).status_code == 201
    async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True) as conn:
        ids = {}
        for space in ("team-a", "team-b"):
            async with conn.transaction():
                ids[space] = await defer_in_transaction(conn, INDEX_VERSION, version_id=space,
                                                        namespace=space)
        await conn.execute("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s",
                           (ids["team-a"],))
    failed_a = (await client.get("/api/v1/jobs/failed", headers=A)).json()
    failed_b = (await client.get("/api/v1/jobs/failed", headers=B)).json()
    assert [item["id"] for item in failed_a["items"]] == [ids["team-a"]]
    assert failed_a["items"][0]["args"]["namespace"] == "team-a"
    assert failed_b == {"items": [], "total": 0, "has_more": False}
    stats_b = (await client.get("/api/v1/jobs", headers=B)).json()
    assert stats_b["total"] == 1 and stats_b["by_status"]["todo"] == 1
    stats_default = (await client.get("/api/v1/jobs")).json()
    assert stats_default["total"] == 0
