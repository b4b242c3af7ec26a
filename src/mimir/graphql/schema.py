"""The Strawberry schema and the router that serves it at /graphql."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.fastapi import GraphQLRouter

from mimir.config import Settings
from mimir.graphql.caches import Caches
from mimir.graphql.context import get_context
from mimir.graphql.cost import cost_limit, only_error_of, response_budget
from mimir.graphql.errors import MutationScope, shape_errors
from mimir.graphql.ide import LocalGraphiQLRouter
from mimir.graphql.mutation import Mutation
from mimir.graphql.query import Query


class MimirSchema(strawberry.Schema):
    hide_suggestions = False

    def process_errors(self, errors, execution_context=None) -> None:
        """Expected errors are the client's business; shape_errors logs unexpected ones."""

    async def execute(self, *args, **kwargs):
        """Every error leaves in the client-facing form, with a code, whatever raised it
        (an exception in an extension skips the extensions' own after-steps); an
        over-size response is that one error and no data."""
        result = await super().execute(*args, **kwargs)
        shape_errors(result, self.hide_suggestions)
        only_error_of(result, "response_too_large")
        return result


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with the configured limits: depth, aliases, tokens, cost, response size,
    introspection."""
    hide = not settings.graphql_introspection
    caches = Caches(hide_suggestions=hide)
    extensions = [
        MutationScope,
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        *caches.extensions(),
        cost_limit(settings.graphql_max_cost, settings.page_max_limit),
        response_budget(settings.graphql_max_response_bytes),
    ]
    if hide:
        extensions.append(DisableIntrospection)
    schema = MimirSchema(query=Query, mutation=Mutation, extensions=extensions)
    schema.hide_suggestions = hide
    schema.caches = caches
    return schema


def graphql_router(settings: Settings) -> GraphQLRouter:
    router = LocalGraphiQLRouter(
        build_schema(settings),
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphiql else None,
        allow_queries_via_get=False,
        subscription_protocols=(),  # Mímir has no subscriptions: no websocket protocol
    )
    router.max_response_bytes = settings.graphql_max_response_bytes
    return router


__all__ = ["GraphQLError", "build_schema", "graphql_router"]
