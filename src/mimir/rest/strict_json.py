"""Strict JSON request bodies: what the standard library would let through is refused.

FastAPI decodes bodies with `json.loads`, which accepts `NaN`, `Infinity` and `1e400`
(stored as null by orjson later), lets the last of two duplicate keys win silently, and
decodes `"\\ud800"` into a string PostgreSQL cannot store (a 500). Every JSON body is first
read here with orjson (RFC 8259: no NaN/Infinity, numbers must fit a double, valid UTF-8
without lone surrogates, nesting up to 1024) and checked for duplicate keys; a body that
fails is a 422 in the error shape naming the problem. GraphQL (`/graphql`) parses its own
bodies.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mimir.errors import BadRequest, Invalid, MimirError

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SKIP_PREFIXES = ("/graphql",)


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


def json_body_problem(body: bytes) -> MimirError | None:
    """Why `body` is not acceptable JSON, or None: a 400 when it is not even UTF-8 text (as
    FastAPI answers), else a 422 naming the problem."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRequest(f"the body is not valid UTF-8 (byte {exc.start})",
                          details={"location": ["body"]})
    problem = _json_problem(body)
    return Invalid(problem, details={"location": ["body"]}) if problem else None


def _json_problem(body: bytes) -> str | None:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"the body is not valid JSON: {exc}"
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except DuplicateKey as exc:
        shown = exc.key if len(exc.key) <= 100 else exc.key[:100] + "..."
        return f"the body repeats the key {shown!r} in one object; each key may appear once"
    except RecursionError:
        return "the body is nested too deeply"
    return None


def _is_json(scope: Scope) -> bool:
    content_type = Request(scope).headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class StrictJsonMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") not in BODY_METHODS
                or scope.get("path", "").startswith(SKIP_PREFIXES) or not _is_json(scope)):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_body_problem(body) if body.strip() and messages[-1]["type"] == \
            "http.request" else None
        if problem is not None:
            from mimir.http_errors import render_error

            await render_error(Request(scope), problem)(scope, receive, send)
            return
        replay = iter(messages)

        async def replay_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replay_receive, send)
