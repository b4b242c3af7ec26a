"""The read tools: recall, quote, provenance_chain, get_artifact. Each opens a pooled
connection and calls the service REST uses; results are citations."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AwareDatetime, Field

from mimir.artifacts.service import get_artifact as artifact_with_versions
from mimir.artifacts.service import get_version
from mimir.decisions.service import lineage
from mimir.entities import EntityType
from mimir.mcp.citations import citation, evidence_of, quote_range, quote_span
from mimir.mcp.errors import plain, tool_errors
from mimir.mcp.recall import recall as recall_hits
from mimir.search.hybrid import HybridQuery

READ_TOOLS = ("recall", "quote", "provenance_chain", "get_artifact")

Kind = Literal["conversation", "document", "note"]
Found = Literal["artifact_version", "intent", "decision"]


def register_read_tools(server: MCPServer, state: Any) -> None:
    @server.tool(description="Search memory (hybrid full-text + semantic, best first). Each "
                 "hit is a citation: the quoted text, artifact id, version id and number, "
                 "code-point offsets into that version, the span id where there is one, "
                 "timestamps, and for intents and decisions their provenance with evidence.")
    async def recall(
        query: Annotated[str, Field(min_length=1, max_length=1000,
                                    description="A question or keywords.")],
        limit: Annotated[int, Field(ge=1, le=100, description="Hits to return.")] = 10,
        entity_types: Annotated[list[Found] | None, Field(
            description="Only these (default: versions, intents and decisions).")] = None,
        artifact_kinds: Annotated[list[Kind] | None, Field(
            description="Only versions of artifacts of these kinds.")] = None,
        sources: Annotated[list[str] | None, Field(
            description="Only versions of artifacts from these sources.")] = None,
        created_after: Annotated[AwareDatetime | None, Field(
            description="Only entities created at or after this time (ISO 8601, with zone).")] = None,
        created_before: Annotated[AwareDatetime | None, Field(
            description="Only entities created before this time.")] = None,
    ) -> dict[str, Any]:
        with tool_errors():
            fields = {"entity_types": entity_types, "artifact_kinds": artifact_kinds,
                      "sources": sources, "created_after": created_after,
                      "created_before": created_before}
            request = HybridQuery(query=query, limit=limit,
                                  **{k: v for k, v in fields.items() if v is not None})
            async with state.pool.connection() as conn:
                return plain(await recall_hits(conn, state, request))

    @server.tool(description="The exact text of a span (span_id), or of a range of a version "
                 "(version_id with start_offset/end_offset in code points; the whole version "
                 "without them), with the version's SHA-256 content hash to verify a citation.")
    async def quote(
        span_id: Annotated[uuid.UUID | None, Field(description="A span id.")] = None,
        version_id: Annotated[uuid.UUID | None, Field(description="An artifact version id.")] = None,
        start_offset: Annotated[int | None, Field(ge=0, description="With version_id.")] = None,
        end_offset: Annotated[int | None, Field(ge=0, description="With version_id; exclusive.")] = None,
    ) -> dict[str, Any]:
        if (span_id is None) == (version_id is None):
            raise ToolError("give span_id, or version_id (with optional start_offset and "
                            "end_offset), not both and not neither")
        if span_id is not None and (start_offset is not None or end_offset is not None):
            raise ToolError("start_offset and end_offset go with version_id, not span_id")
        with tool_errors():
            async with state.pool.connection() as conn:
                if span_id is not None:
                    return plain(await quote_span(conn, span_id))
                return plain(await quote_range(conn, version_id, start_offset, end_offset))

    @server.tool(description="How an entity was produced: every provenance record (model, "
                 "prompt, pipeline, parameters) with its evidence spans quoted; for a "
                 "decision also its supersession chain, oldest first.")
    async def provenance_chain(
        entity_type: Annotated[EntityType, Field(description="Type of the entity.")],
        entity_id: Annotated[uuid.UUID, Field(description="Id of the entity.")],
    ) -> dict[str, Any]:
        with tool_errors():
            async with state.pool.connection() as conn:
                result: dict[str, Any] = {
                    "entity_type": entity_type.value, "entity_id": entity_id,
                    "provenance": await evidence_of(conn, entity_type, entity_id)}
                if entity_type is EntityType.DECISION:
                    result["supersession"] = await lineage(conn, entity_id)
                return plain(result)

    @server.tool(description="An artifact with the list of its versions and the content of "
                 "one version (the latest, or version_number), as a citable whole.")
    async def get_artifact(
        artifact_id: Annotated[uuid.UUID, Field(description="The artifact's id.")],
        version_number: Annotated[int | None, Field(ge=1, description="Default: latest.")] = None,
    ) -> dict[str, Any]:
        with tool_errors():
            async with state.pool.connection() as conn:
                return plain(await artifact_and_version(conn, artifact_id, version_number))


async def artifact_and_version(conn: Any, artifact_id: uuid.UUID,
                               version_number: int | None) -> dict[str, Any]:
    artifact = await artifact_with_versions(conn, artifact_id)
    number = version_number or max(v["version_number"] for v in artifact["versions"])
    version = await get_version(conn, artifact_id, number)
    cited = citation(version, 0, len(version["content"]))
    return {**artifact, "version": {**cited, "content": cited.pop("quote"),
                                    "metadata": version["metadata"],
                                    "created_by": version["created_by"]}}
