"""Service errors as tool errors: the message the REST client would read, so the agent
knows what to fix; and results as plain JSON values."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from mimir.errors import MimirError


def _field_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn what the services raise into a ToolError whose text says what went wrong."""
    try:
        yield
    except MimirError as error:
        detail = f" ({orjson.dumps(error.details).decode()})" if error.details else ""
        raise ToolError(f"{error.code}: {error.message}{detail}") from error
    except ValidationError as error:
        raise ToolError(f"invalid input: {_field_errors(error)}") from error


def plain(value: Any) -> Any:
    """JSON-native copy of a service result (UUIDs, datetimes and decimals as strings)."""
    return orjson.loads(orjson.dumps(value, default=str))
