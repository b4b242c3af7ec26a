"""Request body size limit: a 413 in the error shape before a large body is read."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mimir.errors import PayloadTooLarge

# Routes that take large uploads and enforce their own cap while streaming them to disk
# (POST /api/v1/imports: MIMIR_MAX_UPLOAD_BYTES); the global limit is not applied to them.
UPLOAD_PATHS: tuple[str, ...] = ("/api/v1/imports",)


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes` with a 413: at once when Content-Length says so;
    a body without Content-Length (chunked) is read up to the limit first, then replayed.
    Paths under `exempt_paths` pass through untouched."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 exempt_paths: tuple[str, ...] = UPLOAD_PATHS) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        declared = Request(scope).headers.get("content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replay_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replay_receive, send)

    def _exempt(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.exempt_paths)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from mimir.http_errors import render_error

        error = PayloadTooLarge(f"request body is larger than {self.max_bytes} bytes",
                                details={"max_bytes": self.max_bytes})
        await render_error(Request(scope), error)(scope, receive, send)
