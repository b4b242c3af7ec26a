"""Streamable HTTP at /mcp inside the FastAPI app. The AuthMiddleware authenticates /mcp
like every endpoint (same keys); which tools a key may list and call is decided per tool
(mcp/access.py), so a read key reaches the read tools."""

from __future__ import annotations

from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings

from mimir.mcp.server import MimirMCP, build_server

MCP_PATH = "/mcp"


def mount_mcp(app: FastAPI) -> MimirMCP:
    """Add the /mcp route to `app`; the app's lifespan must run the returned server's
    `session_manager.run()`."""
    server = build_server(app.state)
    # Keys guard the endpoint; the app is served on whatever host it is configured for,
    # so the SDK's localhost-only Host check is off (as for REST and GraphQL).
    starlette = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    app.router.routes.extend(starlette.routes)
    app.state.mcp_server = server
    return server
