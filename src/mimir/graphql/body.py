"""Checks on a /graphql JSON body shared by both paths: UTF-8 and a nesting limit.

A body that is not UTF-8, or nested deeper than MAX_DEPTH (variables included), is a 400
before any GraphQL work: Python's JSON decoder recurses, and orjson refuses to encode
values nested 255 deep.
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException

MAX_DEPTH = 128


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a decoded JSON value nests containers deeper than `limit`."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def could_be_deep(text: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """A quick test: fewer opening brackets than the limit cannot nest deeper."""
    opening = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    return text.count(opening[0]) + text.count(opening[1]) > limit


def decode(data: str | bytes) -> Any:
    """The request body as JSON, or an HTTPException (400) the router renders."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(400, "the request body is not valid UTF-8") from None
    try:
        value = json.loads(data)
    except RecursionError:
        value = None
    else:
        if not could_be_deep(data) or not too_deep(value):
            return value
    raise HTTPException(400, f"the request body is nested deeper than {MAX_DEPTH} levels")


__all__ = ["MAX_DEPTH", "could_be_deep", "decode", "too_deep"]
