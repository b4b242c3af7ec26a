"""Nothing a client sends is ignored: a query parameter no operation reads is a 422 naming
it (listings that take filters validate every other parameter as a filter already)."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mimir.errors import Invalid
from mimir.rest.deps import filter_params

_ALLOWED: dict[int, frozenset[str] | None] = {}


def _walk(dependant: Dependant):
    stack = [dependant]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.dependencies)


def _allowed(route: APIRoute) -> frozenset[str] | None:
    """The query parameters the route reads; None when it takes arbitrary filters."""
    key = id(route)
    if key not in _ALLOWED:
        parts = list(_walk(route.dependant))
        _ALLOWED[key] = None if any(d.call is filter_params for d in parts) else frozenset(
            param.alias for d in parts for param in d.query_params)
    return _ALLOWED[key]


async def known_query_params(request: Request) -> None:
    """Router dependency: refuse a query parameter the operation does not read."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    allowed = _allowed(route)
    if allowed is None:
        return
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise Invalid(f"unknown query parameter(s) {', '.join(unknown)}; this operation reads "
                      + (", ".join(sorted(allowed)) if allowed else "none"),
                      details={"parameters": unknown, "allowed": sorted(allowed)})
