"""GraphQL errors: domain errors keep their code and message in `extensions`; invalid
input gets `invalid`; anything unexpected is masked (logged with the request id)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import GraphQLError
from psycopg.errors import QueryCanceled
from pydantic import ValidationError
from strawberry.extensions import SchemaExtension

from mimir.errors import MimirError
from mimir.logging import get_logger

log = get_logger("mimir.graphql")

# graphql-core's hints ("Did you mean 'x'?") name schema members: not shown without
# introspection.
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', '')}" if where else err.get("msg", ""))
    return "; ".join(parts)


def shape_error(error: GraphQLError, hide_suggestions: bool = False) -> GraphQLError:
    """The error a client sees for `error`."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        # Parse and validation errors (including the query limits) are the client's; so
        # are variable coercion errors (a malformed UUID variable), which arrive wrapped.
        message = _SUGGESTION.sub("", error.message) if hide_suggestions else error.message
        return GraphQLError(message, nodes=error.nodes, source=error.source,
                            positions=error.positions, path=error.path,
                            extensions={**(error.extensions or {}),
                                        "code": (error.extensions or {}).get("code", "invalid_query")})
    if isinstance(original, MimirError):
        return GraphQLError(original.message, nodes=error.nodes, source=error.source,
                            positions=error.positions, path=error.path,
                            extensions={"code": original.code, "details": original.details})
    if isinstance(original, ValidationError):
        return GraphQLError(_pydantic_message(original), nodes=error.nodes, source=error.source,
                            positions=error.positions, path=error.path,
                            extensions={"code": "invalid"})
    if isinstance(original, QueryCanceled):  # MIMIR_GRAPHQL_STATEMENT_TIMEOUT
        return GraphQLError("the query took too long and was cancelled; ask for less",
                            nodes=error.nodes, source=error.source, positions=error.positions,
                            path=error.path, extensions={"code": "query_timeout"})
    if isinstance(original, UnicodeEncodeError):  # a lone surrogate ("\\ud800") in a string
        return GraphQLError("text must be valid Unicode: a string holds a lone surrogate",
                            nodes=error.nodes, source=error.source, positions=error.positions,
                            path=error.path, extensions={"code": "invalid"})
    log.error("unhandled GraphQL error", error_type=type(original).__name__,
              exc_info=(type(original), original, original.__traceback__))
    return GraphQLError("internal error; the request id identifies it in the logs",
                        nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, extensions={"code": "internal"})


def shape_errors(result: object, hide_suggestions: bool = False) -> None:
    """Rewrites every error of a result into the client-facing form (idempotent)."""
    if result is not None and getattr(result, "errors", None):
        result.errors = [shape_error(e, hide_suggestions) for e in result.errors]


class MutationScope(SchemaExtension):
    """Read-only API keys may query but not mutate (the REST rule, applied to GraphQL)."""

    def on_execute(self) -> Iterator[None]:
        from graphql import ExecutionResult
        from strawberry.types.graphql import OperationType

        context = self.execution_context
        scope = getattr(context.context, "api_key_scope", None)
        if context.operation_type == OperationType.MUTATION and scope == "read":
            context.result = ExecutionResult(data=None, errors=[GraphQLError(
                "a read key cannot run mutations; it needs a write key",
                extensions={"code": "forbidden", "details": {"scope": scope, "needed": "write"}})])
        yield
