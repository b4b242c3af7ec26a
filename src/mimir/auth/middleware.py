"""Bearer-key authentication for every endpoint but /health.

Authentication is required when MIMIR_REQUIRE_AUTH is set or any active key exists. Read
keys may only read: REST methods other than GET/HEAD/OPTIONS need `write`, except the
search endpoints (reads sent as POST); GraphQL requests pass, and mutations are checked
against the scope in the GraphQL layer. Keys never reach the logs: the request log does
not record headers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mimir.auth.keys import allows, auth_required, hash_key, scope_of
from mimir.auth.ratelimit import RateLimiter, retry_after
from mimir.errors import Forbidden, MimirError, RateLimited, Unauthorized

OPEN_PATHS = frozenset({"/health", "/api/v1/health"})
# GraphiQL's page and its static files reveal nothing; the queries it sends need a key.
OPEN_PREFIXES = ("/graphql-assets/",)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POST_PREFIXES = ("/api/v1/search/", "/graphql")


def needed_scope(method: str, path: str) -> str:
    if method in READ_METHODS or path.startswith(READ_POST_PREFIXES):
        return "read"
    return "write"


class AuthMiddleware:
    def __init__(self, app: ASGIApp, rate_per_minute: int = 0) -> None:
        self.app = app
        self.limiter = RateLimiter(rate_per_minute) if rate_per_minute > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # nothing is served over websockets: refused (403)
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope.get("path", "")
        if (scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
                or (path == "/graphql" and scope.get("method") == "GET")):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            key_scope = await self._authenticate(request)
        except MimirError as error:
            from mimir.http_errors import render_error

            response = render_error(request, error)
            if isinstance(error, Unauthorized):
                response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key_scope"] = key_scope
        if self.limiter is not None:
            header = request.headers.get("authorization", "")
            client = scope.get("client")
            caller = ("key:" + hash_key(header)) if header else ("ip:" + (client[0] if client else "?"))
            wait = self.limiter.take(caller)
            if wait > 0:
                from mimir.http_errors import render_error

                response = render_error(request, RateLimited(
                    f"too many requests; retry in {retry_after(wait)} s",
                    details={"retry_after_s": int(retry_after(wait))}))
                response.headers["Retry-After"] = retry_after(wait)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _authenticate(self, request: Request) -> str | None:
        """The caller's scope (None when no key is needed and none was given)."""
        state = request.app.state
        header = request.headers.get("authorization", "")
        async with state.pool.connection() as conn:
            if not header:
                if state.settings.require_auth or await auth_required(conn):
                    raise Unauthorized("this endpoint needs `Authorization: Bearer <key>`")
                return None
            kind, _, key = header.partition(" ")
            if kind.lower() != "bearer" or not key.strip():
                raise Unauthorized("use `Authorization: Bearer <key>`")
            key_scope = await scope_of(conn, key.strip())
        if key_scope is None:
            raise Unauthorized("the key is unknown or revoked")
        needed = needed_scope(request.method, request.url.path)
        if not allows(key_scope, needed):
            raise Forbidden(f"a {key_scope} key cannot do this; it needs a {needed} key",
                            details={"scope": key_scope, "needed": needed})
        return key_scope
