"""Input types shared by REST bodies and GraphQL inputs: text without NUL characters or
lone surrogates, metadata that is a bounded JSON object of finite numbers, and the strict
base model every input derives from (unknown fields refused, the plan's field names
accepted)."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import orjson
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError, PydanticUndefined

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


class StrictModel(BaseModel):
    """Base of every request body and input: a field the model does not know is refused
    (422 naming it), never dropped.

    Where the plan names a field differently from the attribute our code uses (e.g.
    `artifact_type` for `kind`), declare it with `renamed_field("artifact_type", "kind", ...)`:
    the plan's name is the documented one, the old one stays accepted, both given with the
    same value is fine and with different values a 422. `PLAN_NAMES` (plan name -> old
    name) is collected from those fields."""

    model_config = ConfigDict(extra="forbid")
    PLAN_NAMES: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.PLAN_NAMES = {
            field.validation_alias.choices[0]: field.validation_alias.choices[1]
            for field in cls.model_fields.values()
            if isinstance(field.validation_alias, AliasChoices)}

    @model_validator(mode="before")
    @classmethod
    def _one_name_per_field(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not cls.PLAN_NAMES:
            return data
        for plan, old in cls.PLAN_NAMES.items():
            if plan in data and old in data:
                if data[plan] != data[old]:
                    raise PydanticCustomError(
                        "conflicting_names",
                        "{plan} and {old} are the same field ({old} is its old name) and "
                        "were given different values; give one of them",
                        {"plan": plan, "old": old})
                data = {k: v for k, v in data.items() if k != old}
        return data


def renamed_field(plan: str, old: str, default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A field documented under the plan's name `plan` that also accepts its old name."""
    return Field(default, validation_alias=AliasChoices(plan, old), **kwargs)
