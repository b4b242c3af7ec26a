"""One error hierarchy for the whole service, rendered the same way by REST and GraphQL.

REST shape: {"error": {"code", "message", "details", "request_id"}}.
"""

from __future__ import annotations

import re
import sys
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


# Absolute filesystem paths under the usual top-level directories (and this interpreter's
# prefix, wherever it lives); API paths such as /api/v1/... or /graphql do not match.
_TOP_DIRS = ("home", "root", "tmp", "var", "usr", "opt", "etc", "srv", "mnt", "media", "data",
             "work", "private", "Users", "run", "proc", "app", "nix", "snap", "lib", "lib64",
             "bin", "sbin", "dev", "workspace", "code")
_PATH_TAIL = r"""(?:/[^\s'"`:,;()\[\]{}<>]*)*"""


def _path_pattern() -> re.Pattern[str]:
    roots = [rf"/(?:{'|'.join(_TOP_DIRS)})(?=/|\b)"]
    roots += [re.escape(p.rstrip("/")) for p in {sys.prefix, sys.base_prefix}
              if p.startswith("/") and len(p) > 1]
    return re.compile(rf"""(?<![\w.~/-])(?:{'|'.join(roots)}){_PATH_TAIL}""")


_PATHS = _path_pattern()


def redact_paths(text: str) -> str:
    """`text` with absolute server paths replaced by `[path]`: error messages (a file that is
    gone, a library's complaint) must not tell clients where things live on the server."""
    return _PATHS.sub("[path]", text) if "/" in text else text
