"""Header and body read timeouts: a client that trickles its request cannot hold a
connection (and, for bodies, a request slot) open for long.

- Headers (`MIMIR_HTTP_HEADER_TIMEOUT`): uvicorn has no header timeout, so `mimir serve`
  runs uvicorn with `header_timeout_protocol(...)`, its own httptools protocol plus a timer
  armed when a connection opens and when each request begins, and disarmed once the
  headers are complete. When it fires the client gets a 408 and the connection is closed.
  (uvicorn's keep-alive timeout still closes idle connections between requests.)
- Bodies: `BodyTimeoutMiddleware` bounds each wait for the next piece of the body
  (`MIMIR_HTTP_BODY_TIMEOUT`) and the whole body (`MIMIR_HTTP_BODY_DEADLINE`, or
  `MIMIR_HTTP_UPLOAD_DEADLINE` for uploads). On expiry the app sees the client as
  disconnected and the client gets a 408 in the error shape, with `Connection: close`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mimir.errors import RequestTimeout
from mimir.logging import get_logger
from mimir.rest.limits import UPLOAD_PATHS

log = get_logger("mimir.http")


class BodyTimeoutMiddleware:
    def __init__(self, app: ASGIApp, idle_s: float, deadline_s: float,
                 upload_deadline_s: float, upload_paths: tuple[str, ...] = UPLOAD_PATHS) -> None:
        self.app = app
        self.idle_s = idle_s
        self.deadline_s = deadline_s
        self.upload_deadline_s = upload_deadline_s
        self.upload_paths = upload_paths

    def _is_upload(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.upload_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        total = self.upload_deadline_s if self._is_upload(scope.get("path", "")) \
            else self.deadline_s
        deadline = time.monotonic() + total
        timed_out = body_done = started = False

        async def timed_receive() -> Message:
            nonlocal timed_out, body_done
            if timed_out:
                return {"type": "http.disconnect"}
            if body_done:  # e.g. waiting for a disconnect while streaming a response
                return await receive()
            wait = max(0.0, min(self.idle_s, deadline - time.monotonic()))
            try:
                async with asyncio.timeout(wait):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                log.info("request body timed out", path=scope.get("path"))
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out and not started:
                return  # the 408 below replaces whatever the app answers
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out or started:
                raise
        if timed_out and not started:
            from mimir.http_errors import render_error

            error = RequestTimeout(
                f"the request body did not arrive in time (at most {self.idle_s:g} s between "
                f"pieces, {total:g} s in all)",
                details={"idle_timeout_s": self.idle_s, "deadline_s": total})
            response = render_error(Request(scope), error)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)


def _timeout_response(seconds: float) -> bytes:
    body = orjson.dumps({"error": {
        "code": "request_timeout",
        "message": f"the request headers did not arrive within {seconds:g} s",
        "details": {"header_timeout_s": seconds}, "request_id": None}})
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
            + body)


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, closing connections whose request headers take longer
    than `seconds` (pass it as `uvicorn.run(http=...)`)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        header_timeout_s = seconds

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._header_timer: asyncio.TimerHandle | None = None

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout_s,
                                                          self._header_timed_out)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                log.info("request headers timed out", client=self.client[0] if self.client
                         else None)
                self.transport.write(_timeout_response(self.header_timeout_s))
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

    return HeaderTimeoutProtocol
