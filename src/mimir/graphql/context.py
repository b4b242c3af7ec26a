"""The typed per-request context: pool, settings, and fresh dataloaders."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from mimir.config import Settings
from mimir.graphql.loaders import Loaders


class Context(BaseContext):
    def __init__(self, pool: AsyncConnectionPool, settings: Settings,
                 api_key_scope: str | None = None) -> None:
        super().__init__()
        self.pool = pool
        self.settings = settings
        self.loaders = Loaders(pool)
        self.api_key_scope = api_key_scope


async def get_context(request: Request) -> Context:
    """Called by the GraphQL router once per request."""
    return Context(request.app.state.pool, request.app.state.settings,
                   request.scope.get("state", {}).get("api_key_scope"))


Info = StrawberryInfo[Context, None]
