"""Bearer-key authentication for every endpoint but /health.

Authentication is required when MIMIR_REQUIRE_AUTH is set or any active key exists. Read
keys may only read: REST methods other than GET/HEAD/OPTIONS need `write`, except the
search and context endpoints (reads sent as POST); GraphQL requests pass, and mutations are checked
against the scope in the GraphQL layer; /mcp passes, and each MCP tool checks its scope. Keys never reach the logs: the request log does
not record headers.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mimir.auth.keys import allows, auth_required, hash_key, scope_of
from mimir.auth.ratelimit import RateLimiter, retry_after
from mimir.errors import BadRequest, Forbidden, MimirError, RateLimited, Unauthorized

OPEN_PATHS = frozenset({"/health", "/api/v1/health"})
# GraphiQL's page and its static files reveal nothing; the queries it sends need a key.
OPEN_PREFIXES = ("/graphql-assets/",)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POST_PREFIXES = ("/api/v1/search/", "/api/v1/context", "/graphql")
MCP_PATH = "/mcp"


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def parse_authorization(headers: Headers) -> str | None:
    """The key in `Authorization: Bearer <key>` (scheme in any case, spaces around either
    part ignored), None without the header. Two Authorization headers are a 400 (which
    one counts would be a guess); any other scheme or shape is a 401."""
    values = headers.getlist("authorization")
    if len(values) > 1:
        raise BadRequest("send one Authorization header, not several")
    if not values:
        return None
    parts = values[0].split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise Unauthorized("use `Authorization: Bearer <key>`")
    return parts[1]


ADMIN_PREFIX = "/api/v1/admin"


def needed_scope(method: str, path: str) -> str:
    if path == MCP_PATH:  # each MCP tool checks the scope it needs (mimir/mcp/access.py)
        return "read"
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return "admin"
    if method in READ_METHODS or path.startswith(READ_POST_PREFIXES):
        return "read"
    return "write"


class AuthMiddleware:
    """Authenticates each request and applies the rate limit.

    Rate-limit buckets are keyed on who the caller is, not on how they spelled it: a
    verified key's identity (its hash, whatever the scheme's case or the spaces around
    it), else the client address. Requests without a key and failed attempts (malformed
    header, unknown or revoked key) draw from the address's bucket, and an address whose
    bucket is empty is refused before its key is even looked up.
    """

    def __init__(self, app: ASGIApp, rate_per_minute: int = 0) -> None:
        self.app = app
        self.limiter = RateLimiter(rate_per_minute) if rate_per_minute > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # nothing is served over websockets: refused (403)
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope.get("path", "")
        if (scope["type"] != "http" or (path.rstrip("/") or "/") in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
                or (path == "/graphql" and scope.get("method") == "GET")):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        address = "ip:" + client_address(scope)
        try:
            if self.limiter is not None:
                self._check(self.limiter.available(address))
            try:
                credential = parse_authorization(request.headers)
                key_scope = await self._authenticate(request, credential)
            except (Unauthorized, BadRequest):
                if self.limiter is not None:
                    self._check(self.limiter.take(address))
                raise
            if self.limiter is not None:
                caller = ("key:" + hash_key(credential)) if credential else address
                self._check(self.limiter.take(caller))
            needed = needed_scope(request.method, request.url.path)
            if key_scope is not None and not allows(key_scope, needed):
                raise Forbidden(f"a {key_scope} key cannot do this; it needs a {needed} key",
                                details={"scope": key_scope, "needed": needed})
        except MimirError as error:
            from mimir.http_errors import render_error

            response = render_error(request, error)
            if isinstance(error, Unauthorized):
                response.headers["WWW-Authenticate"] = "Bearer"
            if isinstance(error, RateLimited):
                response.headers["Retry-After"] = str(error.details["retry_after_s"])
            await response(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["api_key_scope"] = key_scope
        # Who, for the audit log: the key's stored prefix, never the key.
        state["api_key_prefix"] = credential[:12] if key_scope is not None else None
        await self.app(scope, receive, send)

    @staticmethod
    def _check(wait: float) -> None:
        if wait > 0:
            seconds = retry_after(wait)
            raise RateLimited(f"too many requests; retry in {seconds} s",
                              details={"retry_after_s": int(seconds)})

    async def _authenticate(self, request: Request, key: str | None) -> str | None:
        """The caller's scope (None when no key is needed and none was given)."""
        state = request.app.state
        async with state.pool.connection() as conn:
            if key is None:
                if state.settings.require_auth or await auth_required(conn):
                    raise Unauthorized("this endpoint needs `Authorization: Bearer <key>`")
                return None
            key_scope = await scope_of(conn, key)
        if key_scope is None:
            raise Unauthorized("the key is unknown or revoked")
        return key_scope
