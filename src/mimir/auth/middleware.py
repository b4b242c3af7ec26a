"""Bearer-key authentication for every endpoint but /health.

Authentication is required when MIMIR_REQUIRE_AUTH is set or any active key exists. Read
keys may only read: REST methods other than GET/HEAD/OPTIONS need `write`, except the
search and context endpoints (reads sent as POST); GraphQL requests pass, and mutations are checked
against the scope in the GraphQL layer; /mcp passes, and each MCP tool checks its scope. Keys never reach the logs: the request log does
not record headers.

Namespaces: a request works in the namespace of its `X-Mimir-Namespace` header, else in
the key's first namespace (`default` for admin keys and when no key is needed). A key
bound to other namespaces gets 403 for it, reads and writes alike; an unknown namespace is
a 404. The namespace is put in force (`mimir.namespaces.context`) for the rest of the
request, and every pooled connection the request takes is in it.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mimir.auth.keys import allows, auth_required, hash_key, key_of
from mimir.auth.ratelimit import RateLimiter, SharedRateLimiter, retry_after
from mimir.errors import BadRequest, Forbidden, MimirError, NotFound, RateLimited, Unauthorized
from mimir.namespaces import context as namespace_context
from mimir.namespaces.service import exists as namespace_exists

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


def requested_namespace(headers: Headers) -> str | None:
    """The namespace named by `X-Mimir-Namespace` (None without the header); a malformed
    name or several headers are a 400."""
    values = headers.getlist(namespace_context.HEADER)
    if len(values) > 1:
        raise BadRequest(f"send one {namespace_context.HEADER} header, not several")
    if not values:
        return None
    name = values[0].strip()
    if namespace_context.NAME.fullmatch(name) is None:
        raise BadRequest(f"{namespace_context.HEADER} must be {namespace_context.NAME_RULE}",
                         details={"header": namespace_context.HEADER})
    return name


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

    def __init__(self, app: ASGIApp, rate_per_minute: int = 0, *, shared: bool = False) -> None:
        self.app = app
        self.limiter: RateLimiter | SharedRateLimiter | None = None
        if rate_per_minute > 0:
            self.limiter = (SharedRateLimiter if shared else RateLimiter)(rate_per_minute)

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
                requested = requested_namespace(request.headers)
                caller = ("key:" + hash_key(credential)) if credential else address
                # The key check reads only global tables (no RLS). Its connection is put in
                # the namespace the request will most likely work in, so the request's own
                # checkouts, usually of the same connection, need not set it again.
                with namespace_context.use(requested or namespace_context.DEFAULT):
                    key_scope, key_namespaces, key_id, wait = await self._authenticate(
                        request, credential, caller)
            except (Unauthorized, BadRequest):
                if self.limiter is not None:
                    self._check(await self._take(request, address))
                raise
            if self.limiter is not None:
                self._check(self.limiter.take(caller) if wait is None else wait)
            needed = needed_scope(request.method, request.url.path)
            if key_scope is not None and not allows(key_scope, needed):
                raise Forbidden(f"a {key_scope} key cannot do this; it needs a {needed} key",
                                details={"scope": key_scope, "needed": needed})
            namespace = await self._namespace(request, requested, key_namespaces)
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
        state["api_key_id"] = key_id
        state["namespace"] = namespace
        state["key_namespaces"] = key_namespaces
        with namespace_context.use(namespace):
            await self.app(scope, receive, send)

    async def _take(self, request: Request, caller: str) -> float:
        if isinstance(self.limiter, SharedRateLimiter):
            async with request.app.state.pool.connection() as conn:
                return await self.limiter.take_on(conn, caller)
        return self.limiter.take(caller)

    @staticmethod
    def _check(wait: float) -> None:
        if wait > 0:
            seconds = retry_after(wait)
            raise RateLimited(f"too many requests; retry in {seconds} s",
                              details={"retry_after_s": int(seconds)})

    async def _authenticate(self, request: Request, key: str | None, caller: str,
                            ) -> tuple[str | None, list[str] | None, Any, float | None]:
        """The caller's scope (None when no key is needed and none was given), the
        namespaces its key may use (None: all), the key's id, and with the shared rate
        limit the wait from taking the caller's token on the same connection (else None)."""
        state = request.app.state
        async with state.pool.connection() as conn:
            if key is None:
                if state.settings.require_auth or await auth_required(conn):
                    raise Unauthorized("this endpoint needs `Authorization: Bearer <key>`")
                scope, namespaces, key_id = None, None, None
            else:
                row = await key_of(conn, key)
                if row is None:
                    raise Unauthorized("the key is unknown or revoked")
                scope, namespaces, key_id = row["scope"], row["namespaces"], row["id"]
            wait = None
            if isinstance(self.limiter, SharedRateLimiter):
                wait = await self.limiter.take_on(conn, caller)
        return scope, namespaces, key_id, wait

    @staticmethod
    async def _namespace(request: Request, requested: str | None,
                         allowed: list[str] | None) -> str:
        """The namespace the request works in; 403 when the key may not use it, 404 when it
        does not exist."""
        if requested is None:
            return allowed[0] if allowed else namespace_context.DEFAULT
        if allowed is not None and requested not in allowed:
            raise Forbidden(f"this key may not use namespace {requested}",
                            details={"namespace": requested, "allowed": allowed})
        if requested != namespace_context.DEFAULT:
            with namespace_context.use(requested):
                async with request.app.state.pool.connection() as conn:
                    found = await namespace_exists(conn, requested)
            if not found:
                raise NotFound(f"no namespace {requested}", details={"namespace": requested})
        return requested
