"""Request body size limits: a 413 in the error shape before a large body is read.

JSON routes: MIMIR_MAX_BODY_BYTES. Upload routes (POST /api/v1/imports) have their own,
larger limit (MIMIR_MAX_UPLOAD_BYTES plus room for the multipart framing), counted while
the body streams in: the multipart parser spools the file to disk as it arrives, so the
413 has to come as soon as the limit is passed, not after the whole body is on disk.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mimir.errors import PayloadTooLarge
from mimir.rest.asgi_body import read_body, replaying

# Room for the multipart boundaries, part headers and the small form fields.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
UPLOAD_PATH = "/api/v1/imports"
UPLOAD_PATHS: tuple[str, ...] = (UPLOAD_PATH,)  # routes whose bodies are uploads


class _BodyTooLarge(Exception):
    """Raised from `receive` once a streamed upload passes its limit."""


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes` with a 413: at once when Content-Length says so;
    a body without Content-Length (chunked) is read up to the limit first, then replayed.
    Paths in `upload_limits` (path -> largest file) are streamed through, counted as they
    come, up to that size plus MULTIPART_OVERHEAD_BYTES."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 upload_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_limits = dict(upload_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload_limit = self.upload_limits.get(scope.get("path", "").rstrip("/") or "/")
        if upload_limit is not None:
            await self._stream(scope, receive, send, upload_limit)
            return
        declared = Request(scope).headers.get("content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send, self.max_bytes)
                return
            await self.app(scope, receive, send)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        messages, too_large = await read_body(receive, self.max_bytes)
        if too_large:
            await self._refuse(scope, receive, send, self.max_bytes)
            return
        await self.app(scope, replaying(messages, receive), send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, max_file: int) -> None:
        """Pass the body through while counting it; past the limit the app's reading fails
        and whatever it answers is replaced by the 413."""
        limit = max_file + MULTIPART_OVERHEAD_BYTES
        declared = Request(scope).headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, max_file, upload=True)
            return
        size = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal size, exceeded
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to the failed read; the 413 follows
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if exceeded and not started:
            await self._refuse(scope, receive, send, max_file, upload=True)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int, *,
                      upload: bool = False) -> None:
        from mimir.http_errors import render_error

        message = (f"the uploaded file is larger than {limit} bytes (MIMIR_MAX_UPLOAD_BYTES)"
                   if upload else f"request body is larger than {limit} bytes")
        error = PayloadTooLarge(message, details={"max_bytes": limit})
        await render_error(Request(scope), error)(scope, receive, send)
