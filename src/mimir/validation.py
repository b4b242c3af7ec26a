"""Input types shared by REST bodies and GraphQL inputs: text without NUL characters or
lone surrogates, and metadata that is a bounded JSON object of finite numbers."""

from __future__ import annotations

import math
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field

MAX_METADATA_BYTES = 64 * 1024
# Deeper metadata is refused with a message (the check below walks it without recursion;
# orjson, which stores it, stops at 254 levels anyway).
MAX_METADATA_DEPTH = 64


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    if not value.isascii() and has_surrogate(value):
        raise ValueError("text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is "
                         "not allowed")
    return value


def has_surrogate(value: str) -> bool:
    """A code point in U+D800..U+DFFF, which UTF-8 (and so PostgreSQL) cannot carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_value_problem(value: Any, max_depth: int = MAX_METADATA_DEPTH) -> str | None:
    """Why a decoded JSON value cannot be stored as jsonb, or None: a NUL character or lone
    surrogate in a string or key, a number that is not finite, nesting deeper than
    `max_depth`. Iterative, so no nesting depth can exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "NUL characters are not allowed"
            if not item.isascii() and has_surrogate(item):
                return "strings must be valid Unicode (a lone surrogate is not allowed)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "numbers must be finite (NaN, Infinity and overflowing values like " \
                       "1e400 are not allowed)"
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                return f"nesting deeper than {max_depth} levels is not allowed"
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_value_problem(value)
    if problem is not None:
        raise ValueError(f"metadata cannot be stored: {problem}")
    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:
        # An integer beyond 64 bits: JSON that the store and the responses cannot carry
        # (orjson's message names it).
        raise ValueError(f"metadata cannot be stored: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_no_nul)]
Label = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_no_nul)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]
