"""The namespace the running request or job works in.

A context variable, set by the auth middleware for a request (`X-Mimir-Namespace`, else
the key's own), by a job from its arguments, and by the CLI from `--namespace`. The pool
reads it each time it hands out a connection (`mimir.db.pool`); asyncio tasks started
inside a request inherit it. Where it is unset, a connection gets an empty namespace and
row-level security shows and accepts nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from mimir.errors import Invalid

DEFAULT = "default"
HEADER = "X-Mimir-Namespace"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
NAME_RULE = "1-63 characters: lower-case letters, digits, '-' and '_', starting with a letter or digit"

_current: ContextVar[str | None] = ContextVar("mimir_namespace", default=None)


def current() -> str | None:
    """The namespace in force here, or None outside any."""
    return _current.get()


@contextmanager
def use(namespace: str) -> Iterator[str]:
    """Work in `namespace` inside the block (it must be a valid name)."""
    token = _current.set(validate(namespace))
    try:
        yield namespace
    finally:
        _current.reset(token)


def enter(namespace: str | None) -> None:
    """Set the namespace for the rest of the current context (a request's task)."""
    _current.set(None if namespace is None else validate(namespace))


def validate(name: str, field: str = "namespace") -> str:
    if not isinstance(name, str) or NAME.fullmatch(name) is None:
        raise Invalid(f"{field} must be {NAME_RULE}", details={"field": field})
    return name
