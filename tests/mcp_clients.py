"""Helpers for the MCP tests: a live `mimir serve` on a test database, SDK client sessions
over HTTP and stdio, and the citation check every recall result goes through."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation

from tests.faults import database_url
from tests.process import free_port, wait_healthy

CLIENT = Implementation(name="mimir-test-agent", version="1.2.3")


def server_env(conninfo: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"MIMIR_TEST_DATABASE_URL", "POSTGRES_PASSWORD", "MIMIR_REQUIRE_AUTH"}}
    env.update(DATABASE_URL=database_url(conninfo) if conninfo else "",
               MIMIR_DATA_DIR=str(tmp_path / "data"), MIMIR_WORKER="off", LOG_LEVEL="WARNING")
    env.update(extra)
    return env


@contextmanager
def live_server(conninfo: str, tmp_path: Path, **extra: str) -> Iterator[str]:
    """`mimir serve` on `conninfo`; yields its base URL."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mimir.cli", "serve", "--port", str(port)],
                                env=server_env(conninfo, tmp_path, **extra),
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, within_s=90, log_path=log)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@asynccontextmanager
async def http_session(base: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
            streamable_http_client(f"{base}/mcp", http_client=http) as (read, write), \
            ClientSession(read, write, client_info=CLIENT) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(env: dict[str, str], *args: str) -> AsyncIterator[ClientSession]:
    """`mimir mcp ARGS...` as a stdio server, with an initialized client session."""
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "mimir.cli", "mcp", *args], env=env)
    async with stdio_client(params) as (read, write), \
            ClientSession(read, write, client_info=CLIENT) as session:
        await session.initialize()
        yield session


def result(call: Any) -> dict[str, Any]:
    """A successful tool call's JSON result."""
    assert not call.is_error, call.content[0].text
    return call.structured_content if call.structured_content is not None \
        else json.loads(call.content[0].text)


def error_text(call: Any) -> str:
    assert call.is_error, call
    return call.content[0].text


def check_citation(conninfo: str, cited: dict[str, Any]) -> str:
    """The citation's offsets slice the stored version to exactly its quote, and its hash
    is the stored content's; returns the version content."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT content, content_hash, artifact_id, version_number "
                           "FROM artifact_versions WHERE id = %s",
                           (cited["version_id"],)).fetchone()
    assert row is not None, cited
    content, digest, artifact_id, number = row
    assert content[cited["start_offset"]:cited["end_offset"]] == cited["quote"]
    assert digest == cited["content_hash"] == hashlib.sha256(content.encode()).hexdigest()
    assert (str(artifact_id), number) == (cited["artifact_id"], cited["version_number"])
    if cited.get("span_id"):
        with psycopg.connect(conninfo) as conn:
            span = conn.execute("SELECT start_offset, end_offset, artifact_version_id FROM spans "
                                "WHERE id = %s", (cited["span_id"],)).fetchone()
        assert (span[0], span[1], str(span[2])) == (
            cited["start_offset"], cited["end_offset"], cited["version_id"])
    return content
