"""Response models document themselves with a whole example, built from the examples of
their fields (and a typical value for a field without one), so every operation's response
shows a complete body in the OpenAPI description and stays in step with the model."""

from __future__ import annotations

import types
import typing
import uuid
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

EXAMPLE_ID = "6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"
EXAMPLE_TIME = "2026-03-03T14:30:00Z"
_SCALARS: dict[Any, Any] = {uuid.UUID: EXAMPLE_ID, datetime: EXAMPLE_TIME, str: "text",
                            int: 1, float: 0.5, bool: True}


def _example_value(annotation: Any) -> Any:
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation)).value
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return example_of(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        return _example_value(present[0]) if present else None
    if origin is typing.Literal:
        return args[0]
    if origin is list:
        return [_example_value(args[0])] if args else []
    if origin is dict or annotation is dict:
        return {}
    if origin is typing.Annotated:
        return _example_value(args[0])
    return None


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """A complete example body of `model`: each field's first example, else a typical value."""
    return {name: field.examples[0] if field.examples else _example_value(field.annotation)
            for name, field in model.model_fields.items()}


def _add_example(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    schema.setdefault("examples", [example_of(cls)])


class ResponseModel(BaseModel):
    """Base of the REST response models: the schema carries a complete example."""

    model_config = ConfigDict(json_schema_extra=_add_example)
