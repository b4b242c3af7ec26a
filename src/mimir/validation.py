"""Input types shared by REST bodies and GraphQL inputs: text without NUL characters and
metadata that is a bounded JSON object."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field

MAX_METADATA_BYTES = 64 * 1024


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    if _contains_nul(value):
        raise ValueError("NUL characters are not allowed in metadata")
    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:
        # An integer beyond 64 bits or nesting deeper than 254 levels: JSON that the
        # store and the responses cannot carry (orjson's message names which).
        raise ValueError(f"metadata cannot be stored: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_no_nul)]
Label = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_no_nul)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]
