"""A client nobody here wrote: the MCP Inspector from npm (CLI mode, pinned in
tests/mcp_inspector/package-lock.json) lists the tools of a live `mimir serve` and calls
`remember`, then `recall`, over streamable HTTP with an API key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from mimir.auth.keys import create_key
from tests.mcp_clients import check_citation, live_server

FOLDER = Path(__file__).resolve().parents[1] / "mcp_inspector"
INSPECTOR = FOLDER / "node_modules" / ".bin" / "mcp-inspector"

pytestmark = pytest.mark.skipif(shutil.which("npm") is None,
                                reason="npm is not installed: the MCP Inspector is an npm package")


def _inspector(url: str, key: str, tmp_path: Path, *args: str) -> dict:
    if not INSPECTOR.exists():  # `make install` runs this; do it here when it has not run
        subprocess.run(["npm", "install", "--prefix", str(FOLDER), "--no-save", "--no-audit",
                        "--no-fund", "--loglevel=error"], check=True, timeout=600)
    done = subprocess.run(
        [str(INSPECTOR), "--cli", url, "--transport", "http",
         "--header", f"Authorization: Bearer {key}", *args],
        capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
             "MCP_CATALOG_PATH": str(tmp_path / "catalog.json")})
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def _tool_result(output: dict) -> dict:
    assert not output.get("isError"), output
    return output.get("structuredContent") or json.loads(output["content"][0]["text"])


async def test_inspector_lists_tools_remembers_and_recalls(db_conninfo, tmp_path):
    async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        key = (await create_key(conn, name="inspector", scope="write"))[0]
    with live_server(db_conninfo, tmp_path, MIMIR_EMBEDDING_PROVIDER="none") as base:
        url = f"{base}/mcp"
        tools = _inspector(url, key, tmp_path, "--method", "tools/list")["tools"]
        assert {t["name"] for t in tools} >= {"remember", "recall", "quote", "record_decision"}
        said = "The inspector heard that the launch review is on Friday at noon."
        stored = _tool_result(_inspector(
            url, key, tmp_path, "--method", "tools/call", "--tool-name", "remember",
            "--tool-arg", f"content={said}", "kind=message", "speaker=inspector",
            "source=inspector", "external_id=insp-1"))
        assert stored["created"] is True and stored["citation"]["quote"] == said
        recalled = _tool_result(_inspector(
            url, key, tmp_path, "--method", "tools/call", "--tool-name", "recall",
            "--tool-arg", "query=launch review Friday"))
        [hit] = recalled["hits"]
        assert hit["quote"] == said and hit["span_id"] == stored["citation"]["span_id"]
        check_citation(db_conninfo, hit)
