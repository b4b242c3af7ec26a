"""Every REST path answers with and without a trailing slash (`POST /api/v1/artifacts/`
is served, not redirected: a 307 is a failure to clients that do not follow it on POST).
The slash variants are hidden from the OpenAPI description."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute


def add_trailing_slash_routes(router: APIRouter) -> APIRouter:
    """Register `<path>/` for every route of the router whose path ends in a fixed segment
    (idempotent: a router shared by several apps gets its variants once)."""
    existing = {(route.path, frozenset(route.methods)) for route in router.routes
                if isinstance(route, APIRoute)}
    for route in list(router.routes):
        if not isinstance(route, APIRoute) or route.path.endswith(("/", "}")):
            continue
        if (route.path + "/", frozenset(route.methods)) in existing:
            continue
        router.add_api_route(
            route.path[len(router.prefix):] + "/", route.endpoint,
            methods=sorted(route.methods), response_model=route.response_model,
            status_code=route.status_code, tags=route.tags, dependencies=route.dependencies,
            summary=route.summary, description=route.description, responses=route.responses,
            response_class=route.response_class, name=f"{route.name}_slash",
            include_in_schema=False)
    return router
