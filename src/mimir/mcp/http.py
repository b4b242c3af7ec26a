"""Streamable HTTP at /mcp inside the FastAPI app. The AuthMiddleware authenticates /mcp
like every endpoint (same keys); which tools a key may list and call is decided per tool
(mcp/access.py), so a read key reaches the read tools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings

from mimir.mcp.server import MimirMCP, build_server

MCP_PATH = "/mcp"


def mount_mcp(app: FastAPI) -> MimirMCP:
    """Add the /mcp route to `app`; the app's lifespan must run the returned server's
    sessions (`running_sessions`)."""
    server = build_server(app.state)
    # Keys guard the endpoint; the app is served on whatever host it is configured for,
    # so the SDK's localhost-only Host check is off (as for REST and GraphQL).
    starlette = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    app.router.routes.extend(starlette.routes)
    app.state.mcp_server = server
    return server


@asynccontextmanager
async def running_sessions(server: MimirMCP) -> AsyncIterator[None]:
    """Run the session manager for as long as the block runs. Its task group lives in a
    task of its own, so the block may be entered and left in different tasks (as a test
    fixture's setup and teardown are)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with server.session_manager.run():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold(), name="mcp-sessions")
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # failed to start: raise its error
        waiter.cancel()
        task.result()
    try:
        yield
    finally:
        stop.set()
        await task
