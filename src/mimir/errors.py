"""One error hierarchy for the whole service, rendered the same way by REST and GraphQL.

REST shape: {"error": {"code", "message", "details", "request_id"}}.
"""

from __future__ import annotations

from typing import Any


class MimirError(Exception):
    """An error the client may see: its message is written for them."""

    status_code = 500
    code = "internal"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class Invalid(MimirError):
    """The request is well-formed but breaks a rule (offsets out of range, unknown type)."""

    status_code = 422
    code = "invalid"


class NotFound(MimirError):
    status_code = 404
    code = "not_found"


class Conflict(MimirError):
    """The request clashes with the current state (a transition that is not allowed)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(MimirError):
    status_code = 413
    code = "payload_too_large"


class Unauthorized(MimirError):
    status_code = 401
    code = "unauthorized"


class Forbidden(MimirError):
    status_code = 403
    code = "forbidden"


class RateLimited(MimirError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(MimirError):
    """The database cannot be reached right now; the client may retry."""

    status_code = 503
    code = "service_unavailable"


class BadRequest(MimirError):
    """The request itself is ambiguous or cannot be read (two Authorization headers)."""

    status_code = 400
    code = "bad_request"


class RequestTimeout(MimirError):
    """The client did not send its request (headers or body) in time."""

    status_code = 408
    code = "request_timeout"
