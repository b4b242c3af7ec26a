"""Per request: may its reads come from a replica, and what must they include?

Installed only when replicas are configured, right inside the auth middleware.

- Reads that may be slightly stale: GET and HEAD under /api/v1 (not the admin endpoints),
  the search and context endpoints (reads sent as POST) and POST /graphql (its queries;
  mutations take the primary through `RoutedPool.writes`). Everything else, and every
  connection taken before this middleware (key checks), uses the primary.
- Read-your-writes: a response to a request that wrote carries `X-Mimir-Read-After`, the
  primary's WAL position taken after the commit. A request that sends it back reads from a
  replica only once that replica has replayed past it, else from the primary. A malformed
  value is treated as a position no replica has reached (the primary answers).
- The same position is remembered per caller (API key, else client address) in this
  process for MIMIR_REPLICA_MAX_LAG_S, so a client that does not echo the header still reads
  its writes while its requests reach this process. After that window every usable replica
  holds the write anyway (its staleness is under the same bound). Not covered: a client
  that does not echo the header and whose next read lands on another process.
- A read replay cancelled on the replica runs again once on the primary
  (`mimir.rest.replica_retry`).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mimir.auth.keys import hash_key
from mimir.auth.middleware import (
    ADMIN_PREFIX,
    READ_METHODS,
    READ_POST_PREFIXES,
    client_address,
    parse_authorization,
)
from mimir.db.replicas import format_lsn, parse_lsn
from mimir.db.routing import Route, enter_route, leave_route, position_after_writes
from mimir.errors import MimirError
from mimir.rest.asgi_body import read_body, replaying
from mimir.rest.replica_retry import HeldResponse, note_retry, retryable

HEADER = "X-Mimir-Read-After"
_UNREACHABLE = 1 << 64  # beyond any WAL position: only the primary can serve it
MAX_CALLERS = 10_000
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


def reads_may_lag(method: str, path: str) -> bool:
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return False
    if method in READ_METHODS:
        return path.startswith("/api/v1/") and not path.startswith("/api/v1/health")
    return method == "POST" and path.startswith(READ_POST_PREFIXES)


class LastWrites:
    """The last write position of each caller, for `window_s` (this process only)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def remember(self, caller: str, lsn: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        previous = self._seen.pop(caller, None)
        self._seen[caller] = (max(lsn, previous[0]) if previous else lsn, now)
        while len(self._seen) > MAX_CALLERS:
            self._seen.popitem(last=False)

    def position(self, caller: str, now: float | None = None) -> int | None:
        now = time.monotonic() if now is None else now
        seen = self._seen.get(caller)
        if seen is None or now - seen[1] > self.window_s:
            return None
        return seen[0]


def caller_of(scope: Scope, headers: Headers) -> str:
    """Who is asking: the key's hash (the auth middleware has verified it), else the address."""
    try:
        key = parse_authorization(headers)
    except MimirError:
        key = None
    return "key:" + hash_key(key) if key else "ip:" + client_address(scope)


def requested_position(headers: Headers) -> int | None:
    values = headers.getlist(HEADER)
    if not values:
        return None
    positions = [parse_lsn(value) for value in values]
    return _UNREACHABLE if None in positions else max(p for p in positions if p is not None)


class ReadRoutingMiddleware:
    """Sets the request's `Route`, adds `X-Mimir-Read-After` to responses of writes, and
    runs a read that replay cancelled on its replica once more on the primary."""

    def __init__(self, app: ASGIApp, window_s: float,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.last_writes = LastWrites(window_s)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        caller = caller_of(scope, headers)
        wanted = [p for p in (requested_position(headers), self.last_writes.position(caller))
                  if p is not None]
        route = Route(reads_may_lag=reads_may_lag(scope["method"], scope["path"]),
                      may_write=scope["method"] not in READ_METHODS,
                      min_lsn=max(wanted) if wanted else None)
        if not route.reads_may_lag:
            await self._run(route, scope, receive, self._sending(route, caller, send))
            return
        messages, too_large = await read_body(receive, self.max_body_bytes)
        if too_large:
            await self._run(route, scope, replaying(messages, receive),
                            self._sending(route, caller, send))
            return
        held = HeldResponse(route, self._sending(route, caller, send))
        try:
            await self._run(route, scope, replaying(messages, receive), held.send)
        except Exception:
            if not held.dropped and (held.started or not retryable(route)):
                raise
        else:
            if not held.dropped:
                return
        note_retry(route, scope)
        # A read: every connection from the primary, no write position to hand out.
        primary = Route(reads_may_lag=False, min_lsn=route.min_lsn)
        await self._run(primary, scope, replaying(messages, receive),
                        self._sending(primary, caller, send))

    async def _run(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        token = enter_route(route)
        try:
            await self.app(scope, receive, send)
        finally:
            leave_route(token)

    def _sending(self, route: Route, caller: str, send: Send) -> Send:
        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                lsn = await position_after_writes(route)
                if lsn is not None:
                    self.last_writes.remember(caller, lsn)
                    MutableHeaders(scope=message).append(HEADER, format_lsn(lsn))
            await send(message)

        return send_with_position
