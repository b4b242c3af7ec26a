"""Renders every error as {"error": {"code", "message", "details", "request_id"}}."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import errors as pg
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mimir.errors import MimirError, ServiceUnavailable, redact_paths
from mimir.logging import get_logger

log = get_logger("mimir.errors")

# Seconds a client should wait before retrying a 503 (the database is unavailable).
RETRY_AFTER_S = "1"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


def error_body(request: Request, code: str, message: str, details: Any = None) -> dict[str, Any]:
    if isinstance(details, dict):
        details = {k: redact_paths(v) if isinstance(v, str) else v for k, v in details.items()}
    return {
        "error": {
            "code": code,
            "message": redact_paths(message),
            "details": details if details is not None else {},
            "request_id": getattr(request.state, "request_id", None),
        }
    }


def _respond(request: Request, status: int, code: str, message: str, details: Any = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(request, code, message, details), status_code=status,
                        headers=headers)


def render_error(request: Request, exc: MimirError) -> JSONResponse:
    """The response for a domain error (also used by middleware, outside the handlers)."""
    headers = {"Retry-After": RETRY_AFTER_S} if isinstance(exc, ServiceUnavailable) else None
    return _respond(request, exc.status_code, exc.code, exc.message, exc.details, headers)


async def _mimir_error(request: Request, exc: MimirError) -> JSONResponse:
    if isinstance(exc, ServiceUnavailable):
        cause = exc.__cause__ or exc
        log.warning("database unavailable", error_type=type(cause).__name__)
    return render_error(request, exc)


def _problem(err: dict[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in err.get("loc", ())]
    message = err.get("msg", "")
    if err.get("type") == "extra_forbidden":
        message = f"unknown field {location[-1]!r}: not part of this request (nothing is ignored)"
    return {"location": location, "message": message, "type": err.get("type", "")}


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [_problem(err) for err in exc.errors()]
    unknown = [".".join(p["location"]) for p in problems if p["type"] == "extra_forbidden"]
    message = "the request is not valid"
    if unknown:
        message += f": unknown field(s) {', '.join(unknown)}"
    return _respond(request, 422, "invalid", message, {"errors": problems})


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "internal")
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    else:
        message = str(exc.detail)
    return _respond(request, exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _concurrent_update(request: Request, exc: Exception) -> JSONResponse:
    log.info("transaction collided", error_type=type(exc).__name__)
    return _respond(request, 409, "conflict", "the request collided with a concurrent change; retry",
                    headers={"Retry-After": "0"})


async def _query_timeout(request: Request, exc: Exception) -> JSONResponse:
    """A statement ran past MIMIR_DB_STATEMENT_TIMEOUT: the database is fine, the request
    was too heavy (a narrower one may pass)."""
    log.warning("statement timeout", error_type=type(exc).__name__)
    return _respond(request, 503, "query_timeout", "the request took longer than the server's "
                    "statement timeout and was cancelled; narrow it (filters, smaller limit)")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable", error_type=type(exc).__name__)
    return render_error(request, ServiceUnavailable("the database is unavailable; retry shortly"))


class UnhandledErrorMiddleware:
    """Turns an exception no handler took into a masked 500 in the error shape. It sits
    inside the request-log middleware, so the response still carries the request id
    (Starlette's own last-resort handler sits outside every middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception("unhandled error", error_type=type(exc).__name__)
            if response_started:
                raise
            request = Request(scope)
            response = _respond(request, 500, "internal",
                                "internal error; the request id identifies it in the logs")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MimirError, _mimir_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    # Deadlock / serialization failure: a subclass of OperationalError, but the client's
    # retry is what helps, not waiting for the database to come back.
    for collision in (pg.TransactionRollback, pg.DeadlockDetected, pg.SerializationFailure):
        app.add_exception_handler(collision, _concurrent_update)
    app.add_exception_handler(pg.QueryCanceled, _query_timeout)
    app.add_exception_handler(psycopg.OperationalError, _database_error)
