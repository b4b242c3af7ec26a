"""Resources: artifacts and their versions, for clients that browse rather than call.

URI scheme:
- `mimir://artifacts/{artifact_id}`: the artifact, its version list and its latest version
- `mimir://artifacts/{artifact_id}/versions/{version_number}`: one version with its content
Both are JSON, the same shape as the `get_artifact` tool's result. `resources/list` pages
through the artifacts, oldest first (REST's keyset cursor is MCP's cursor).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, ListResourcesResult, Resource

from mimir.artifacts.service import list_artifacts
from mimir.errors import MimirError
from mimir.mcp.errors import plain
from mimir.mcp.tools_read import artifact_and_version
from mimir.query.pagination import page_request

ARTIFACT_URI = "mimir://artifacts/{artifact_id}"
VERSION_URI = "mimir://artifacts/{artifact_id}/versions/{version_number}"
LIST_PAGE = 100


async def _read(state: Any, artifact_id: str, version_number: int | None) -> str:
    try:
        parsed = uuid.UUID(artifact_id)
    except ValueError as error:
        raise ResourceError(f"{artifact_id!r} is not an artifact id (a UUID)") from error
    try:
        async with state.pool.connection() as conn:
            body = await artifact_and_version(conn, parsed, version_number)
    except MimirError as error:
        raise ResourceError(error.message) from error
    return orjson.dumps(plain(body)).decode()


def register_resources(server: MCPServer, state: Any) -> None:
    @server.resource(ARTIFACT_URI, name="artifact", mime_type="application/json",
                     description="An artifact, its versions and its latest version's content.")
    async def artifact(artifact_id: str) -> str:
        return await _read(state, artifact_id, None)

    @server.resource(VERSION_URI, name="artifact_version", mime_type="application/json",
                     description="One version of an artifact, with its content and hash.")
    async def version(artifact_id: str, version_number: str) -> str:
        if not version_number.isdigit() or int(version_number) < 1:
            raise ResourceError(f"version number {version_number!r} must be a whole number >= 1")
        return await _read(state, artifact_id, int(version_number))


async def list_artifact_resources(state: Any, cursor: str | None) -> ListResourcesResult:
    """One page of artifacts as resources; a bad cursor is an invalid-params error."""
    try:
        async with state.pool.connection() as conn:
            page = await list_artifacts(conn, {}, page_request(LIST_PAGE, cursor, None))
    except MimirError as error:
        raise MCPError(INVALID_PARAMS, error.message) from error
    resources = [Resource(
        uri=ARTIFACT_URI.format(artifact_id=row["id"]),
        name=row.get("title") or f"{row['artifact_type']} {row['id']}", mime_type="application/json",
        description=f"{row['artifact_type']} from {row['source']}, {row['latest_version_number']} "
                    f"version(s), created {row['created_at'].isoformat()}")
        for row in page.items]
    return ListResourcesResult(resources=resources, next_cursor=page.next_cursor)
