"""The write tools: remember, record_intent, record_decision, supersede_decision, relate.
Each needs a write key over HTTP, and records provenance naming the MCP client (the name
and version it announced at initialize) with the evidence span ids given."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import AwareDatetime, Field

from mimir.artifacts.service import ArtifactCreate
from mimir.decisions.service import DecisionCreate, DecisionFields, create_decision
from mimir.decisions.service import supersede_decision as supersede
from mimir.entities import EntityType
from mimir.intents.service import IntentCreate, create_intent
from mimir.mcp.access import client_identity, client_provenance, require_write
from mimir.mcp.errors import plain, tool_errors
from mimir.mcp.remember import KINDS
from mimir.mcp.remember import remember as store
from mimir.relations.service import RelationCreate, create_relation

WRITE_TOOLS = ("remember", "record_intent", "record_decision", "supersede_decision", "relate")

Evidence = Annotated[list[uuid.UUID] | None, Field(
    max_length=200, description="Span ids this is derived from (e.g. a recall hit's span_id "
    "or remember's citation.span_id), most important first.")]
Label = Annotated[str | None, Field(min_length=1, max_length=500)]


def register_write_tools(server: MCPServer, state: Any) -> None:
    @server.tool(description="Store a message (of a conversation), a note or a document. "
                 "Repeating the same source + external_id returns the stored one (created: "
                 "false). Returns a citation of what was stored; a message gets a span id to "
                 "use as evidence.")
    async def remember(
        content: Annotated[str, Field(min_length=1, description="The text to store.")],
        ctx: Context,
        kind: Annotated[Literal["message", "note", "document"], Field(
            description="`message` is stored as a conversation artifact.")] = "note",
        title: Label = None,
        conversation: Label = None,
        speaker: Label = None,
        time: Annotated[AwareDatetime | None, Field(
            description="When it was said or written (ISO 8601 with zone).")] = None,
        source: Annotated[str, Field(min_length=1, max_length=500, description="Where it "
                                     "comes from (default `mcp`).")] = "mcp",
        external_id: Annotated[str | None, Field(
            min_length=1, max_length=500, description="Its id in the source: makes remember "
            "idempotent.")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Free-form JSON object stored with the artifact.")] = None,
    ) -> dict[str, Any]:
        require_write(ctx, "remember")
        with tool_errors():
            said = {k: v for k, v in (("conversation", conversation), ("speaker", speaker),
                                      ("time", time.isoformat() if time else None)) if v}
            data = ArtifactCreate(artifact_type=KINDS[kind], content=content, title=title,
                                  source=source, external_id=external_id,
                                  metadata={**(metadata or {}), **said}, version_metadata=said,
                                  created_by=f"mcp:{client_identity(ctx)[0]}"[:500])
            async with state.pool.connection() as conn:
                return plain(await store(conn, data, kind=kind,
                                         max_chars=state.settings.max_content_chars,
                                         provenance=client_provenance(ctx, None)))

    @server.tool(description="Record a proposed intent (what someone means to do), with the "
                 "spans it was derived from.")
    async def record_intent(
        statement: Annotated[str, Field(min_length=1, max_length=10000)],
        ctx: Context,
        evidence_span_ids: Evidence = None,
        confidence: Annotated[float | None, Field(ge=0, le=1)] = None,
        intent_group_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        require_write(ctx, "record_intent")
        with tool_errors():
            name, _ = client_identity(ctx)
            data = IntentCreate(statement=statement, confidence=confidence, proposed_by=name[:500],
                                intent_group_id=intent_group_id)
            async with state.pool.connection() as conn:
                intent = await create_intent(conn, data, provenance=client_provenance(
                    ctx, evidence_span_ids))
                return plain(intent)

    @server.tool(description="Record a decision (active by default, or tentative) with its "
                 "rationale and the spans it rests on.")
    async def record_decision(
        statement: Annotated[str, Field(min_length=1, max_length=10000)],
        ctx: Context,
        rationale: Annotated[str | None, Field(max_length=100_000)] = None,
        evidence_span_ids: Evidence = None,
        status: Literal["active", "tentative"] = "active",
    ) -> dict[str, Any]:
        require_write(ctx, "record_decision")
        with tool_errors():
            data = DecisionCreate(statement=statement, rationale=rationale, status=status)
            async with state.pool.connection() as conn:
                return plain(await create_decision(conn, data, provenance=client_provenance(
                    ctx, evidence_span_ids)))

    @server.tool(description="Replace a current decision with a new one: the old one becomes "
                 "superseded by it. Returns both.")
    async def supersede_decision(
        decision_id: Annotated[uuid.UUID, Field(description="The decision replaced.")],
        statement: Annotated[str, Field(min_length=1, max_length=10000)],
        ctx: Context,
        rationale: Annotated[str | None, Field(max_length=100_000)] = None,
        evidence_span_ids: Evidence = None,
    ) -> dict[str, Any]:
        require_write(ctx, "supersede_decision")
        with tool_errors():
            data = DecisionFields(statement=statement, rationale=rationale)
            async with state.pool.connection() as conn:
                return plain(await supersede(conn, decision_id, data,
                                             provenance=client_provenance(ctx, evidence_span_ids)))

    @server.tool(description="Link two entities with a typed edge (e.g. an intent "
                 "`derived_from` a span, a decision `implements` an intent).")
    async def relate(
        source_type: EntityType, source_id: uuid.UUID,
        relation_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$",
                                            description="Lower-case letters, digits and _.")],
        target_type: EntityType, target_id: uuid.UUID,
        ctx: Context,
        evidence_span_ids: Evidence = None,
    ) -> dict[str, Any]:
        require_write(ctx, "relate")
        with tool_errors():
            data = RelationCreate(source_type=source_type, source_id=source_id,
                                  relation_type=relation_type, target_type=target_type,
                                  target_id=target_id)
            async with state.pool.connection() as conn:
                return plain(await create_relation(conn, data, client_provenance(
                    ctx, evidence_span_ids)))
