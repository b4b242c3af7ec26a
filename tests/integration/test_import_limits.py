"""Issue 18 against a real `mimir serve`: an import runs in its own process, so the server
keeps answering while it runs, a hostile upload fails once and stays failed across a
restart, SIGTERM stops a server in mid-import, and an oversized streamed upload is
refused while it streams."""

from __future__ import annotations

import base64
import os
import select
import socket
import time
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest

from tests.faults import Server, mimir_env
from tests.shared_data import shared_data_dir

_SHARED = shared_data_dir()
EXPORT = (_SHARED / "chatgpt-export" / "conversations.json") if _SHARED else None


def _wait_finished(base_url: str, import_id: str, within_s: float = 120) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        body = httpx.get(f"{base_url}/api/v1/imports/{import_id}", timeout=10).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"import {import_id} did not finish")


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _large_export() -> bytes:
    """The shared export plus one conversation holding a 12 MB string (yajl lexed such a
    value in quadratic time, on the event loop)."""
    conversations = orjson.loads(EXPORT.read_bytes())
    big = base64.b64encode(os.urandom(9_000_000)).decode()
    conversations.append({"id": "huge", "title": "huge", "mapping": {}, "blob": big})
    return orjson.dumps(conversations)


@pytest.fixture
def server_env(db_conninfo, tmp_path):
    return mimir_env(db_conninfo, MIMIR_DATA_DIR=str(tmp_path / "data"),
                     MIMIR_EMBEDDING_PROVIDER="none", MIMIR_WORKER="inprocess",
                     MIMIR_MAX_UPLOAD_BYTES=str(64 * 1024 * 1024))


def test_server_stays_up_and_a_poisoned_import_stays_failed(server_env, db_conninfo,
                                                             tmp_path):
    if EXPORT is None or not EXPORT.exists():
        pytest.skip("../shared/data/chatgpt-export is not on this machine")
    server = Server(server_env, tmp_path / "serve.log").start()
    try:
        url = server.base_url
        # Row 2: /health answers within 1 s while a large valid import runs.
        response = httpx.post(f"{url}/api/v1/imports", data={"kind": "chatgpt"}, timeout=60,
                              files={"file": ("conversations.json", _large_export())})
        assert response.status_code == 202, response.text
        large_id = response.json()["id"]
        slowest, polls_while_running = 0.0, 0
        while True:
            started = time.monotonic()
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            body = httpx.get(f"{url}/api/v1/imports/{large_id}", timeout=10).json()
            if body["status"] in ("succeeded", "failed"):
                break
            polls_while_running += body["status"] == "running"
            time.sleep(0.1)
        assert body["status"] == "succeeded", body["error"]
        assert body["summary"]["skipped"] == 1  # the huge one has no readable thread
        assert polls_while_running >= 3
        assert slowest < 1.0, f"/health took {slowest:.2f} s during the import"

        # Row 1: the depth bomb fails its import; the server's memory stays small.
        response = httpx.post(f"{url}/api/v1/imports", data={"kind": "chatgpt"}, timeout=60,
                              files={"file": ("c.json", b"[" * 100_000 + b"]" * 100_000)})
        bomb_id = response.json()["id"]
        failed = _wait_finished(url, bomb_id)
        assert failed["status"] == "failed" and "nested deeper" in failed["error"]
        assert _peak_rss_kib(server.proc.pid) < 600 * 1024
    finally:
        server.stop()

    # After a restart the failed import is not run again.
    restarted = Server(server_env, tmp_path / "serve.log").start()
    try:
        time.sleep(3)
        again = httpx.get(f"{restarted.base_url}/api/v1/imports/{bomb_id}", timeout=10).json()
    finally:
        restarted.stop()
    assert again == failed
    with psycopg.connect(db_conninfo) as conn:
        statuses = conn.execute("SELECT status FROM procrastinate_jobs WHERE args->>"
                                "'import_id' = %s", (bomb_id,)).fetchall()
    assert statuses == [("succeeded",)]  # the job ended; the import records the failure


def test_sigterm_stops_a_server_in_mid_import(server_env, tmp_path):
    """Row 2: SIGTERM was ignored while an import parsed on the event loop. Now the server
    stops within its graceful timeout and its import process goes with it."""
    if EXPORT is None or not EXPORT.exists():
        pytest.skip("../shared/data/chatgpt-export is not on this machine")
    server = Server(server_env, tmp_path / "serve.log").start()
    try:
        response = httpx.post(f"{server.base_url}/api/v1/imports", data={"kind": "chatgpt"},
                              files={"file": ("c.json", _large_export())}, timeout=60)
        import_id = response.json()["id"]
        deadline = time.monotonic() + 60
        while not _children(server.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        children = _children(server.proc.pid)
        assert children, "no import process started"
        started = time.monotonic()
        server.proc.terminate()
        server.proc.wait(timeout=40)
        assert time.monotonic() - started < 30
        assert server.proc.returncode != -9
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        server.stop()
    assert import_id


def test_oversized_streamed_upload_is_refused_while_it_streams(server_env, tmp_path):
    """Row 6: an upload over MIMIR_MAX_UPLOAD_BYTES (1 MiB here), streamed without a
    Content-Length, got 1.5 GB written to disk before its 413. Now the 413 comes once the
    limit is passed, and the server stops reading."""
    env = {**server_env, "MIMIR_MAX_UPLOAD_BYTES": str(1024 * 1024)}
    server = Server(env, tmp_path / "serve.log").start()
    try:
        sent, answer = 0, b""
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            head = (b"--b\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nchatgpt\r\n"
                    b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                    b"filename=\"c.json\"\r\nContent-Type: application/json\r\n\r\n")
            sock.sendall(b"POST /api/v1/imports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                         b"chunked\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n"
                         + b"%x\r\n%s\r\n" % (len(head), head))
            chunk = b" " * 65536
            sock.settimeout(5)
            while sent < 200 * 1024 * 1024:
                _, writable, _ = select.select([], [sock], [], 5)
                readable, _, _ = select.select([sock], [], [], 0)
                if readable or not writable:
                    break
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except OSError:
                    break
                sent += len(chunk)
            while b"}}" not in answer:
                try:
                    piece = sock.recv(65536)
                except OSError:
                    break
                if not piece:
                    break
                answer += piece
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"MIMIR_MAX_UPLOAD_BYTES" in answer
        assert sent < 32 * 1024 * 1024, f"{sent} bytes were taken before the 413"
        uploads = Path(env["MIMIR_DATA_DIR"]) / "uploads"
        assert not uploads.exists() or list(uploads.iterdir()) == []

        # A declared Content-Length over the limit is refused before any body is read.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/imports HTTP/1.1\r\nHost: x\r\nContent-Length: "
                         b"1000000000\r\nContent-Type: multipart/form-data; boundary=b"
                         b"\r\n\r\n")
            declared = b""
            while b"}}" not in declared and (piece := sock.recv(65536)):
                declared += piece
        assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
        assert b'"details":{"max_bytes":1048576}' in declared
    finally:
        server.stop()


def test_health_answers_during_an_import_and_50_graphql_reads(server_env, tmp_path):
    """The issue's combined case: while a large valid import runs and 50 concurrent deep
    GraphQL reads hammer the server, /health answers every poll within 1 s."""
    import asyncio

    if EXPORT is None or not EXPORT.exists():
        pytest.skip("../shared/data/chatgpt-export is not on this machine")
    server = Server(server_env, tmp_path / "serve.log").start()
    url = server.base_url
    query = {"query": "{ artifacts(first: 50) { edges { node { id title versions { "
                      "content spans { id startOffset } } } } } }"}

    async def scenario() -> tuple[list[float], dict, list[int]]:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            response = await http.post("/api/v1/imports", data={"kind": "chatgpt"},
                                       files={"file": ("conversations.json", _large_export())})
            assert response.status_code == 202, response.text
            import_id = response.json()["id"]
            reads = [asyncio.create_task(http.post("/graphql", json=query)) for _ in range(50)]
            timings: list[float] = []
            while True:
                started = time.monotonic()
                health = await http.get("/health")
                timings.append(time.monotonic() - started)
                assert health.status_code == 200, health.text
                status = (await http.get(f"/api/v1/imports/{import_id}")).json()
                if status["status"] in ("succeeded", "failed") and all(r.done() for r in reads):
                    break
                await asyncio.sleep(0.1)
            codes = [(await r).status_code for r in reads]
            return timings, status, codes

    try:
        timings, status, codes = asyncio.run(scenario())
    finally:
        server.stop()
    assert status["status"] == "succeeded", status["error"]
    assert codes.count(200) == 50, codes
    assert len(timings) >= 5
    assert max(timings) < 1.0, f"slowest /health {max(timings):.2f} s of {len(timings)} polls"
