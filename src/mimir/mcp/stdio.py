"""`mimir mcp`: the MCP server over stdio, for desktop clients that spawn it. It runs the
app's lifespan (pool, embedding provider, in-process worker) without serving HTTP, so the
tools behave exactly as at /mcp. Stdout carries the protocol; logs go to stderr."""

from __future__ import annotations

from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase


async def run_stdio(settings: Settings, database: PreparedDatabase,
                    namespace: str = "default") -> None:
    """Serve until stdin closes; every tool works in `namespace`."""
    from mimir.app import create_app
    from mimir.namespaces.context import validate

    app = create_app(settings, database, close_database=False)
    app.state.mcp_server.stdio_namespace = validate(namespace)
    async with app.router.lifespan_context(app):
        await app.state.mcp_server.run_stdio_async()
