"""Imports over HTTP: a multipart upload is saved and queued in one transaction (202 with a
Location), run by the background job `imports.run` with its progress kept on the import,
and ends `succeeded` with a summary or `failed` with a readable error."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import uuid
import zipfile
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from mimir.jobs.worker import JobWorker
from mimir.transfer.export import export_database
from mimir.transfer.rest import router as imports_router
from tests.shared_data import shared_data_dir

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ROOT / "tests" / "fixtures" / "chatgpt" / "variants.json"
_SHARED = shared_data_dir()
REAL_EXPORT = (_SHARED / "chatgpt-export" / "conversations.json") if _SHARED else None
UPLOAD_CAP = 4 * 1024 * 1024  # the real export (2.8 MB) fits; the global body limit does not


class UploadSettings(Settings):
    """The test settings with a small upload cap (MIMIR_MAX_UPLOAD_BYTES)."""

    max_upload_bytes: int = UPLOAD_CAP


@pytest.fixture
def settings(tmp_path) -> Settings:
    # A 1 KiB global body limit: uploads must be exempt from it (they have their own cap).
    # No embedding provider: the server would register its space at start-up, and a
    # `mimir` restore only goes into a database without one.
    return UploadSettings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "data"),
                          MIMIR_WORKER="off", MIMIR_MAX_BODY_BYTES=1024,
                          MIMIR_EMBEDDING_PROVIDER="none")


@pytest.fixture
async def app(db_conninfo: str, settings: Settings):
    """The real app, with the imports router included if app.py does not register it yet."""
    from mimir.app import create_app

    application = create_app(settings, PreparedDatabase(conninfo=db_conninfo),
                             close_database=False)
    if not any(getattr(r, "path", "").startswith(imports_router.prefix)
               for r in application.routes):
        application.include_router(imports_router)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def worker(app, db_conninfo):
    """A fast-polling worker on the imports queue only (no embedding jobs)."""
    job_worker = JobWorker(db_conninfo, queues=["imports"], fetch_job_polling_interval=0.1,
                           shutdown_graceful_timeout=5.0)
    job_worker.start()
    yield job_worker
    await job_worker.stop()


@pytest.fixture
def uploads(settings) -> Path:
    return Path(settings.data_dir) / "uploads"


async def _upload(client, content: bytes, *, kind: str = "chatgpt",
                  filename: str = "conversations.json"):
    return await client.post("/api/v1/imports", data={"kind": kind},
                             files={"file": (filename, content, "application/octet-stream")})


async def _finished(client, import_id: str, within_s: float = 25.0) -> dict:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        body = (await client.get(f"/api/v1/imports/{import_id}")).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"import still {body['status']}"
        await asyncio.sleep(0.1)


def _fetch(conninfo: str, query: str, *params) -> list[dict]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def _conversation_count(path: Path) -> int:
    return len(json.loads(path.read_bytes()))


class TestUpload:
    async def test_upload_is_saved_recorded_and_queued(self, client, db_conninfo, uploads):
        """A POST answers 202 with the queued import and its Location, the file is saved
        under <data dir>/uploads, and the job is queued with the import's id."""
        content = VARIANTS.read_bytes()
        response = await _upload(client, content, filename="../../my export.json")
        assert response.status_code == 202, response.text
        body = response.json()
        assert response.headers["location"] == f"/api/v1/imports/{body['id']}"
        assert body["status"] == "queued" and body["kind"] == "chatgpt"
        assert body["filename"] == "my export.json"
        assert body["progress"] == {"file_bytes": len(content)}
        assert body["summary"] is None and body["error"] is None
        saved = list(uploads.iterdir())
        assert [p.name for p in saved] == [f"{body['id']}-my_export.json"]
        assert saved[0].read_bytes() == content
        jobs = _fetch(db_conninfo, "SELECT task_name, args FROM procrastinate_jobs")
        assert jobs == [{"task_name": "imports.run",
                         "args": {"import_id": body["id"], "namespace": "default"}}]

    async def test_unknown_kind_is_422(self, client, db_conninfo, uploads):
        """A kind other than chatgpt or mimir is refused; nothing is recorded or saved."""
        response = await _upload(client, b"[]", kind="files")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid"
        assert _fetch(db_conninfo, "SELECT id FROM imports") == []
        assert not uploads.exists() or list(uploads.iterdir()) == []

    async def test_missing_file_is_422(self, client):
        """The file part is required."""
        response = await client.post("/api/v1/imports", data={"kind": "chatgpt"})
        assert response.status_code == 422

    async def test_upload_over_the_cap_is_413(self, client, db_conninfo, uploads):
        """A file over MIMIR_MAX_UPLOAD_BYTES is a 413; the partial file is removed and no
        import is recorded."""
        response = await _upload(client, b" " * (UPLOAD_CAP + 1))
        assert response.status_code == 413, response.text
        assert response.json()["error"]["details"]["max_bytes"] == UPLOAD_CAP
        assert _fetch(db_conninfo, "SELECT id FROM imports") == []
        assert list(uploads.iterdir()) == []

    async def test_other_routes_keep_the_global_body_limit(self, client):
        """Only the upload route is exempt from MIMIR_MAX_BODY_BYTES."""
        response = await client.post("/api/v1/artifacts",
                                     json={"kind": "note", "content": "x" * 2000})
        assert response.status_code == 413


class TestRun:
    async def test_chatgpt_export_is_imported_with_progress(self, client, worker, db_conninfo,
                                                             uploads):
        """The real export (over the global body limit) is imported by the job: every
        conversation becomes an artifact, and progress and summary carry the counts."""
        if REAL_EXPORT is None or not REAL_EXPORT.exists():
            pytest.skip("../shared/data/chatgpt-export is not on this machine")
        conversations = _conversation_count(REAL_EXPORT)
        created = await _upload(client, REAL_EXPORT.read_bytes())
        assert created.status_code == 202, created.text
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "succeeded", body["error"]
        assert body["error"] is None
        summary, progress = body["summary"], body["progress"]
        assert summary["conversations_seen"] == summary["created"] == conversations
        assert summary["skipped"] == 0 and summary["messages"] > conversations
        assert progress["conversations_seen"] == conversations
        assert progress["messages"] == summary["messages"]
        assert progress["file_bytes"] == progress["bytes_read"] == REAL_EXPORT.stat().st_size
        assert body["started_at"] and body["finished_at"]
        count = _fetch(db_conninfo, "SELECT count(*) AS n FROM artifacts "
                       "WHERE source = 'chatgpt_export' AND artifact_type = 'conversation'")
        assert count == [{"n": conversations}]
        assert list(uploads.iterdir()) == []  # the upload is removed once imported

    async def test_reimport_creates_nothing_new(self, client, worker, db_conninfo):
        """Posting the same export again succeeds with every conversation unchanged."""
        conversations = _conversation_count(VARIANTS)
        first = await _finished(client, (await _upload(client, VARIANTS.read_bytes())).json()["id"])
        assert first["status"] == "succeeded" and first["summary"]["created"] > 0
        second = await _finished(client, (await _upload(client, VARIANTS.read_bytes())).json()["id"])
        assert second["status"] == "succeeded"
        assert second["summary"]["unchanged"] == first["summary"]["created"]
        assert second["summary"]["created"] == second["summary"]["updated"] == 0
        assert second["summary"]["conversations_seen"] == conversations

    async def test_non_json_file_fails_with_a_readable_error(self, client, worker):
        """A file that is not JSON ends `failed`, with an error that says so."""
        created = await _upload(client, b"hello, this is not json", filename="notes.txt")
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "failed"
        assert "not valid JSON" in body["error"]
        assert body["summary"]["conversations_seen"] == 0

    async def test_json_without_conversations_fails(self, client, worker):
        """Valid JSON that holds no conversations ends `failed`, naming what is expected."""
        created = await _upload(client, b'{"user": "me"}')
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "failed"
        assert "no conversations found" in body["error"]

    async def test_mimir_export_is_restored(self, client, worker, db_conninfo, pg_server):
        """kind=mimir restores a `mimir export` file into the (empty) database, same ids."""
        source = pg_server.create_database(template=pg_server.template)
        try:
            source_conninfo = pg_server.conninfo(source)
            artifact_id = _fetch(source_conninfo, "INSERT INTO artifacts (artifact_type, title) "
                                 "VALUES ('note', 'from elsewhere') RETURNING id")[0]["id"]
            out = io.BytesIO()
            async with await psycopg.AsyncConnection.connect(
                    source_conninfo, autocommit=True, row_factory=dict_row) as conn:
                await export_database(conn, out)
        finally:
            pg_server.drop_database(source)
        created = await _upload(client, out.getvalue(), kind="mimir", filename="backup.jsonl")
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "succeeded", body["error"]
        assert body["summary"]["rows"]["artifacts"] == 1
        assert body["progress"]["rows"]["artifacts"] == 1
        restored = await client.get(f"/api/v1/artifacts/{artifact_id}")
        assert restored.status_code == 200 and restored.json()["title"] == "from elsewhere"

    async def test_mimir_restore_into_a_non_empty_database_fails(self, client, worker):
        """A restore refused by the database's state ends `failed` with the reason."""
        await client.post("/api/v1/artifacts", json={"kind": "note", "content": "x"})
        created = await _upload(client, b'{"format": "nope"}\n', kind="mimir")
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "failed"
        assert body["error"].startswith("nothing restored: ")


class TestNamespaces:
    async def test_an_upload_is_imported_into_the_requests_namespace(self, client, worker,
                                                                     db_conninfo):
        """An upload sent in team-b is recorded, queued, run (child process included) and
        written in team-b: team-a sees neither the import nor what it created."""
        b = {"X-Mimir-Namespace": "team-b"}
        a = {"X-Mimir-Namespace": "team-a"}
        for name in ("team-a", "team-b"):
            assert (await client.post("/api/v1/admin/namespaces",
                                      json={"name": name})).status_code == 201
        created = await client.post("/api/v1/imports", data={"kind": "chatgpt"}, headers=b,
                                    files={"file": ("c.json", VARIANTS.read_bytes(),
                                                    "application/json")})
        assert created.status_code == 202, created.text
        import_id = created.json()["id"]
        deadline = asyncio.get_running_loop().time() + 25
        while (body := (await client.get(f"/api/v1/imports/{import_id}", headers=b)).json()
               )["status"] not in ("succeeded", "failed"):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        assert body["status"] == "succeeded", body["error"]
        assert (await client.get(f"/api/v1/imports/{import_id}", headers=a)).status_code == 404
        assert (await client.get("/api/v1/artifacts", headers=a)).json()["items"] == []
        spaces = _fetch(db_conninfo, "SELECT DISTINCT namespace FROM artifact_versions")
        assert spaces == [{"namespace": "team-b"}]
        job = _fetch(db_conninfo, "SELECT args FROM procrastinate_jobs WHERE id = ("
                     "SELECT min(id) FROM procrastinate_jobs)")
        assert job[0]["args"]["namespace"] == "team-b"


class TestRead:
    async def test_unknown_import_is_404(self, client):
        """An id that names no import is a 404."""
        response = await client.get(f"/api/v1/imports/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    async def test_malformed_id_is_422(self, client):
        """A malformed id is a 422, not a 500."""
        assert (await client.get("/api/v1/imports/not-a-uuid")).status_code == 422

    async def test_list_newest_first_with_filters(self, client):
        """The list is newest first, pages with limit/offset and filters by status/kind."""
        ids = [(await _upload(client, b"[]")).json()["id"] for _ in range(3)]
        page = (await client.get("/api/v1/imports", params={"limit": 2})).json()
        assert [item["id"] for item in page["items"]] == ids[::-1][:2]
        assert page["total"] == 3 and page["has_more"] is True
        rest = (await client.get("/api/v1/imports", params={"limit": 2, "offset": 2})).json()
        assert [item["id"] for item in rest["items"]] == ids[:1] and rest["has_more"] is False
        none = (await client.get("/api/v1/imports", params={"status": "failed"})).json()
        assert none["items"] == [] and none["total"] == 0
        mimir = (await client.get("/api/v1/imports", params={"kind": "mimir"})).json()
        assert mimir["total"] == 0
        bad = await client.get("/api/v1/imports", params={"status": "done"})
        assert bad.status_code == 422


class TestHostileUploads:
    """Issue 18: uploads that took the server down now fail their own import, once, with
    an error that names the limit and no server path."""

    async def test_depth_bomb_fails_fast_with_a_clear_error(self, client, worker, tmp_path):
        """Row 1: '[' x 100,000 then ']' x 100,000 (200 KB) used to take ijson to 24 GB."""
        created = await _upload(client, b"[" * 100_000 + b"]" * 100_000)
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "failed"
        assert "nested deeper than 256 levels (MIMIR_IMPORT_MAX_DEPTH)" in body["error"]
        assert str(tmp_path) not in body["error"]

    async def test_zip_bomb_is_refused(self, client, worker):
        """Row 2: a small zip of whitespace is refused by its expansion ratio."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export/conversations.json", b"[" + b" " * 30_000_000 + b"]")
        created = await _upload(client, out.getvalue(), filename="export.zip")
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "failed"
        assert "expands more than 100 times (MIMIR_IMPORT_MAX_RATIO)" in body["error"]

    async def test_gzip_bomb_restore_is_refused(self, client, worker):
        """The same for a `mimir` restore: a gzip that expands too much restores nothing."""
        header = b'{"format": "mimir-export", "version": 1}\n'
        packed = gzip.compress(header + b" " * 20_000_000 + b"\n")
        created = await _upload(client, packed, kind="mimir", filename="backup.jsonl.gz")
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "failed"
        assert body["error"].startswith("nothing restored: refused: ")

    async def test_a_crashing_import_is_not_run_again(self, client, db_conninfo, app, uploads):
        """A start past MIMIR_IMPORT_MAX_ATTEMPTS (the server crashed during each earlier
        run) fails the import instead of running it into another crash."""
        created = (await _upload(client, VARIANTS.read_bytes())).json()
        _fetch(db_conninfo, "UPDATE imports SET status = 'running', progress = progress || "
               "'{\"attempts\": 3}' WHERE id = %s RETURNING id", created["id"])
        job_worker = JobWorker(db_conninfo, queues=["imports"], fetch_job_polling_interval=0.1)
        async with job_worker:
            body = await _finished(client, created["id"])
        assert body["status"] == "failed"
        assert body["error"].startswith("not tried again: the import was interrupted 3 times")
        assert body["progress"]["attempts"] == 4 and body["summary"] is None
        assert list(uploads.iterdir()) == []
        assert _fetch(db_conninfo, "SELECT count(*) AS n FROM artifacts") == [{"n": 0}]

    async def test_attempts_are_counted(self, client, worker):
        created = await _upload(client, VARIANTS.read_bytes())
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "succeeded" and body["progress"]["attempts"] == 1

    @pytest.mark.parametrize("repeated", ["file", "kind"])
    async def test_a_repeated_field_is_refused(self, client, db_conninfo, uploads, repeated):
        """Rows 9/10: two `file` or two `kind` fields are refused, not one of them used."""
        parts = [("kind", (None, b"chatgpt")), ("file", ("a.json", b"[]", "application/json"))]
        parts.append(("file", ("b.json", b"[]", "application/json")) if repeated == "file"
                     else ("kind", (None, b"mimir")))
        response = await client.post("/api/v1/imports", files=parts)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid" and f"`{repeated}` is sent more than once" in \
            error["message"]
        assert _fetch(db_conninfo, "SELECT id FROM imports") == []
        assert not uploads.exists() or list(uploads.iterdir()) == []

    async def test_an_unknown_field_is_refused(self, client, db_conninfo, uploads):
        """A multipart field the upload does not take is a 422 naming it, not ignored."""
        parts = [("kind", (None, b"chatgpt")), ("source", (None, b"mine")),
                 ("file", ("a.json", b"[]", "application/json"))]
        response = await client.post("/api/v1/imports", files=parts)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["fields"] == ["source"]
        assert _fetch(db_conninfo, "SELECT id FROM imports") == []


class ChildLimitSettings(UploadSettings):
    """Small import limits: a value over 1 MB, a child process with 160 MB of memory."""

    import_max_value_bytes: int = 1024 * 1024
    import_max_memory_bytes: int = 160 * 1024 * 1024
    import_max_ratio: int = 100_000


class TestChildLimits:
    @pytest.fixture
    def settings(self, tmp_path) -> Settings:
        return ChildLimitSettings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "data"),
                                  MIMIR_WORKER="off", MIMIR_EMBEDDING_PROVIDER="none")

    async def test_a_long_value_is_refused(self, client, worker):
        """Row 2: one long JSON string (yajl lexed it in quadratic time) is refused."""
        created = await _upload(client, b'[{"id": "' + b"x" * 3_000_000 + b'"}]')
        body = await _finished(client, created.json()["id"])
        assert body["status"] == "failed"
        assert "one JSON value is longer than 1048576 bytes" in body["error"]

    async def test_memory_limit_fails_the_import_not_the_server(self, client, worker):
        """Values within the bounds that still need more memory than the import process
        may have: the import fails, naming the limit; the server is untouched."""
        value = '"' + "y" * 1_000_000 + '"'
        conversation = '{"id": "big", "parts": [' + ",".join([value] * 200) + "]}"
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("conversations.json", f"[{conversation}]")
        created = await _upload(client, out.getvalue(), filename="export.zip")
        body = await _finished(client, created.json()["id"], within_s=60)
        assert body["status"] == "failed"
        assert "MIMIR_IMPORT_MAX_MEMORY_BYTES" in body["error"], body["error"]
        assert (await client.get("/health")).status_code == 200
