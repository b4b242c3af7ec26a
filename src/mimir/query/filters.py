"""Filters from query parameters: `field=value` and `field__op=value`, on an allow-list.

Each resource declares which fields may be filtered and how their values parse; the
result compiles to a SQL condition built only from psycopg's `sql` objects, identifiers
from the allow-list and bound parameters, never from client text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from psycopg import sql

from mimir.errors import Invalid
from mimir.validation import json_value_problem

COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
ORDERED_OPS = frozenset({"eq", "ne", "lt", "lte", "gt", "gte", "in"})
EQUALITY_OPS = frozenset({"eq", "ne", "in"})
TEXT_OPS = frozenset({"eq", "ne", "in", "icontains"})
MAX_IN_VALUES = 100
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Field:
    """A filterable field: its column, how its value parses, which operators it takes."""

    column: str
    kind: str  # uuid | text | enum | int | float | timestamp
    ops: frozenset[str]
    choices: tuple[str, ...] = ()

    def parse(self, name: str, raw: str) -> Any:
        try:
            if self.kind == "uuid":
                return uuid.UUID(raw)
            if self.kind == "int":
                return int(raw)
            if self.kind == "float":
                return float(raw)
            if self.kind == "timestamp":
                value = datetime.fromisoformat(raw)
                if value.tzinfo is None:
                    raise ValueError("timezone missing")
                return value
        except ValueError:
            raise Invalid(f"{name}: {raw!r} is not a valid {self.kind}"
                          + (" (ISO 8601 with a timezone)" if self.kind == "timestamp" else ""),
                          details={"parameter": name}) from None
        if self.kind == "enum" and raw not in self.choices:
            raise Invalid(f"{name}: {raw!r} is not one of {', '.join(self.choices)}",
                          details={"parameter": name, "allowed": list(self.choices)})
        if "\x00" in raw:
            raise Invalid(f"{name}: NUL characters are not allowed", details={"parameter": name})
        return raw


def uuid_field(column: str) -> Field:
    return Field(column, "uuid", EQUALITY_OPS)


def text_field(column: str) -> Field:
    return Field(column, "text", TEXT_OPS)


def enum_field(column: str, choices: Iterable[str]) -> Field:
    return Field(column, "enum", EQUALITY_OPS, tuple(choices))


def timestamp_field(column: str) -> Field:
    return Field(column, "timestamp", ORDERED_OPS)


def number_field(column: str, kind: str = "float") -> Field:
    return Field(column, kind, ORDERED_OPS)


@dataclass(frozen=True)
class FilterSet:
    """The allow-list of one resource. `metadata_column` enables `metadata__<key>` and
    `metadata__contains` (JSON object containment)."""

    fields: Mapping[str, Field]
    metadata_column: str | None = "metadata"

    def allowed(self) -> list[str]:
        names = [f"{name}[__{'|'.join(sorted(f.ops))}]" for name, f in self.fields.items()]
        if self.metadata_column:
            names += ["metadata__<key>", "metadata__contains"]
        return names


@dataclass
class Conditions:
    """A compiled WHERE fragment and its bound parameters."""

    parts: list[sql.Composable] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, fragment: sql.Composable, **params: Any) -> None:
        self.parts.append(fragment)
        self.params.update(params)

    def param(self, value: Any) -> sql.Placeholder:
        name = f"f{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)

    def where(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("TRUE")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def parse_filters(query: Mapping[str, str], filter_set: FilterSet, conditions: Conditions) -> None:
    """Add one condition per filter parameter; an unknown field or operator is a 422 that
    lists what is allowed."""
    for key, raw in query.items():
        name, _, op = key.partition("__")
        if filter_set.metadata_column and name == "metadata" and op:
            _metadata_filter(key, op, raw, filter_set.metadata_column, conditions)
            continue
        spec = filter_set.fields.get(name)
        op = op or "eq"
        if spec is None or op not in spec.ops:
            what = f"unknown filter field {name!r}" if spec is None else (
                f"operator {op!r} is not allowed on {name!r}")
            raise Invalid(f"{what}; allowed: {', '.join(filter_set.allowed())}",
                          details={"parameter": key, "allowed": filter_set.allowed()})
        column = sql.Identifier("t", spec.column)
        if op == "in":
            values = [spec.parse(key, part) for part in raw.split(",") if part != ""]
            if not values or len(values) > MAX_IN_VALUES:
                raise Invalid(f"{key}: give 1 to {MAX_IN_VALUES} comma-separated values",
                              details={"parameter": key})
            # A list of strings binds as text[]: compare an enum column as text here.
            target = sql.SQL("{}::text").format(column) if spec.kind == "enum" else column
            conditions.add(sql.SQL("{} = ANY({})").format(target, conditions.param(values)))
        elif op == "icontains":
            pattern = "%" + _escape_like(spec.parse(key, raw)) + "%"
            conditions.add(sql.SQL("{} ILIKE {}").format(column, conditions.param(pattern)))
        else:
            # An enum column is compared with an untyped parameter, which PostgreSQL reads
            # as the enum itself, so an index on the column stays usable.
            value = spec.parse(key, raw)
            conditions.add(sql.SQL("{} {} {}").format(
                column, sql.SQL(COMPARISONS[op]), conditions.param(value)))


def _metadata_filter(key: str, op: str, raw: str, column_name: str, conditions: Conditions) -> None:
    column = sql.Identifier("t", column_name)
    if "\x00" in raw:
        raise Invalid(f"{key}: NUL characters are not allowed", details={"parameter": key})
    if op == "contains":
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise Invalid(f"{key} takes a JSON object, e.g. {{\"project\": \"apollo\"}}",
                          details={"parameter": key})
        problem = json_value_problem(value)
        if problem is not None:
            raise Invalid(f"{key}: {problem}", details={"parameter": key})
        conditions.add(sql.SQL("{} @> {}::jsonb").format(
            column, conditions.param(orjson.dumps(value).decode())))
        return
    if not _METADATA_KEY.match(op):
        raise Invalid(f"{key}: metadata keys are 1-64 characters of A-Z a-z 0-9 _ . -",
                      details={"parameter": key})
    # metadata__key=value matches the string "value", or the JSON scalar it spells (1, true,
    # null), as containment tests that the GIN (jsonb_path_ops) index on metadata serves.
    alternatives = [orjson.dumps({op: raw}).decode()]
    try:
        scalar = orjson.loads(raw)
    except orjson.JSONDecodeError:
        scalar = raw
    if not isinstance(scalar, (str, dict, list)):
        alternatives.append(orjson.dumps({op: scalar}).decode())
    conditions.add(sql.SQL("({})").format(sql.SQL(" OR ").join(
        sql.SQL("{} @> {}::jsonb").format(column, conditions.param(value))
        for value in alternatives)))
