"""The MCP server: Mímir's tools and resources over one `state` (anything with the app
state's attributes: pool, settings, embedding_provider, embedding_space)."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ListResourcesResult, ListToolsResult

from mimir import __version__
from mimir.auth.keys import allows
from mimir.mcp.access import request_key_scope, request_namespace
from mimir.mcp.resources import list_artifact_resources, register_resources
from mimir.mcp.tools_read import register_read_tools
from mimir.mcp.tools_write import WRITE_TOOLS, register_write_tools
from mimir.namespaces import context as namespace_context

INSTRUCTIONS = (
    "Mímir is a durable memory. `remember` stores what was said or written; `recall` finds it "
    "again as citations (quote, artifact, version, offsets, span id); `quote` re-reads a "
    "citation with its content hash; record intents and decisions with evidence_span_ids "
    "from those citations, so how each was derived stays checkable.")


class MimirMCP(MCPServer):
    """MCPServer that lists only the tools the caller's key may call, and the stored
    artifacts as resources.

    Namespaces: every tool call and resource read or listing runs inside the namespace of
    the /mcp request that carried it (resolved by the AuthMiddleware, read here from the
    request the SDK hands over: the SDK may run handlers in a task of the session, which
    does not inherit the request's context), or over stdio in `stdio_namespace`
    (`mimir mcp --namespace`)."""

    state: Any = None
    stdio_namespace: str = namespace_context.DEFAULT

    def _namespace(self, ctx: Any) -> str:
        return request_namespace(getattr(ctx, "request", None)) or self.stdio_namespace

    async def _handle_call_tool(self, ctx: Any, params: Any) -> Any:
        with namespace_context.use(self._namespace(ctx)):
            return await super()._handle_call_tool(ctx, params)

    async def _handle_read_resource(self, ctx: Any, params: Any) -> Any:
        with namespace_context.use(self._namespace(ctx)):
            return await super()._handle_read_resource(ctx, params)

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        result = await super()._handle_list_tools(ctx, params)
        scope = request_key_scope(getattr(ctx, "request", None))
        if scope is not None and not allows(scope, "write"):
            result.tools = [t for t in result.tools if t.name not in WRITE_TOOLS]
        return result

    async def _handle_list_resources(self, ctx: Any, params: Any) -> ListResourcesResult:
        with namespace_context.use(self._namespace(ctx)):
            return await list_artifact_resources(self.state, getattr(params, "cursor", None))


def build_server(state: Any) -> MimirMCP:
    server = MimirMCP("mimir", title="Mímir", version=__version__, instructions=INSTRUCTIONS,
                      website_url=None, log_level="WARNING")
    server.state = state
    register_read_tools(server, state)
    register_write_tools(server, state)
    register_resources(server, state)
    return server
