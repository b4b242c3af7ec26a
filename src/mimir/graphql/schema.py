"""The Strawberry schema and the router that serves it at /graphql."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.fastapi import GraphQLRouter

from mimir.config import Settings
from mimir.graphql.context import get_context
from mimir.graphql.errors import MimirErrors, MutationScope
from mimir.graphql.ide import LocalGraphiQLRouter
from mimir.graphql.query import Query

try:
    from mimir.graphql.mutation import Mutation
except ImportError:  # pragma: no cover - until mutations exist
    Mutation = None


class MimirSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Expected errors are the client's business; MimirErrors logs unexpected ones."""


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with the configured limits: depth, aliases, tokens, introspection."""
    extensions = [
        MimirErrors,
        MutationScope,
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return MimirSchema(query=Query, mutation=Mutation, extensions=extensions)


def graphql_router(settings: Settings) -> GraphQLRouter:
    return LocalGraphiQLRouter(
        build_schema(settings),
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphiql else None,
        allow_queries_via_get=False,
    )


__all__ = ["GraphQLError", "build_schema", "graphql_router"]
