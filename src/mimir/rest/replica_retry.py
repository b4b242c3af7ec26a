"""A read that a replica's replay cancelled is run again, once, on the primary.

A hot standby cancels queries that stand in the way of replay (a recovery conflict,
`mimir.db.recovery_conflicts`); without `hot_standby_feedback` that happens under steady
writes. Reads are safe to repeat, so `ReadRoutingMiddleware` keeps the body of every
request whose reads may come from a replica (up to MIMIR_MAX_BODY_BYTES, the limit the
body already passed) and holds its response back at `http.response.start`: if by then the
route is marked (`RoutedPool.connection` marks it when the error leaves a replica
connection), that response is dropped and the request runs again with every connection
from the primary. Only then: the error came from a replica connection and was a recovery
conflict (or that connection was lost: how a terminated session may arrive), the request took no primary connection that may write, the response had not
started, and it is the first run.
"""

from __future__ import annotations

import time

from starlette.types import Message, Scope, Send

from mimir.db.replicas import Replica
from mimir.db.routing import Route
from mimir.logging import get_logger

log = get_logger("mimir.rest.replica_retry")


def retryable(route: Route) -> bool:
    """Replay cancelled a read on the request's replica, and it wrote nothing."""
    return (route.replica_conflict is not None and not route.used_primary
            and isinstance(route.replica, Replica))


class HeldResponse:
    """Passes a response on, unless at its start the route asks for a retry: then the whole
    response is dropped (the client sees only the retry's)."""

    def __init__(self, route: Route, send: Send) -> None:
        self.route = route
        self._send = send
        self.started = False
        self.dropped = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.dropped = retryable(self.route)
        if not self.dropped:
            await self._send(message)


def note_retry(route: Route, scope: Scope) -> None:
    """Count and log one retry; skip the replica a while when its conflicts come in a burst."""
    replica = route.replica
    replica.reads -= 1  # the primary serves it after all
    log.warning("replica read cancelled by replay; retrying on the primary",
                replica=replica.name, kind=route.replica_conflict, method=scope["method"],
                path=scope["path"])
    if replica.note_conflict(time.monotonic()):
        log.warning("replica reads keep conflicting with replay; skipped for a while",
                    replica=replica.name, retries=replica.conflict_retries)
