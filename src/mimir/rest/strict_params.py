"""Nothing a client sends is ignored: a query parameter no operation reads is a 422 naming
it (listings that take filters validate every other parameter as a filter already)."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.routing import APIRoute

from mimir.errors import Invalid
from mimir.rest.deps import filter_params

_ALLOWED: dict[int, frozenset[str] | None] = {}


def _allowed(route: APIRoute) -> frozenset[str] | None:
    """The query parameters the route reads; None when it takes arbitrary filters."""
    key = id(route)
    if key not in _ALLOWED:
        flat = get_flat_dependant(route.dependant)
        calls = {dep.call for dep in flat.dependencies}
        _ALLOWED[key] = None if filter_params in calls else frozenset(
            param.alias for param in flat.query_params)
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
