"""What one GraphQL operation may cost: an estimate refused before running, and a cap on
the response while it is built.

The estimate is rows x bytes. A connection multiplies the rows below it by its `first`
(clamped to the page cap), a list with a `limit` by that, any other list by LIST_FANOUT;
a leaf costs its key plus a typical value (`content` is a whole version). Both paths use
the same function: the Strawberry path refuses with `query_too_expensive`, and the
compiled path leaves such operations to it, so both answer the same.

The response cap is exact: the compiled statement returns NULL over it (and the request
goes to the resolvers), the resolvers stop once the text they produced is surely over it
(`ResponseBudget` counts a lower bound of the JSON), and the router measures the encoded
response. Each way the client gets the same `response_too_large` error and no data.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from enum import Enum
from inspect import isawaitable
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    get_named_type,
    is_list_type,
    is_non_null_type,
    value_from_ast_untyped,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from mimir.errors import MimirError

LIST_FANOUT = 10  # rows assumed under a list without `first` or `limit`
CONTENT_BYTES = 8192  # a version's text
TEXT_BYTES = 128  # any other string or JSON value
SCALAR_BYTES = 40  # ids, numbers, times, enums
OBJECT_BYTES = 16  # braces, a key
# The largest `limit` each list field's resolver accepts (search.scope, relations.service).
MAX_LIMITS = {"search": 100}
MAX_LIMIT = 1000


class QueryTooExpensive(MimirError):
    status_code = 400
    code = "query_too_expensive"


class ResponseTooLarge(MimirError):
    status_code = 400
    code = "response_too_large"


def too_expensive(estimate: int, limit: int) -> QueryTooExpensive:
    return QueryTooExpensive(
        f"the query would cost about {estimate} bytes, over the limit of {limit} "
        "(MIMIR_GRAPHQL_MAX_COST); ask for smaller pages (`first`) or fewer nested lists",
        details={"estimated_cost": estimate, "max_cost": limit})


def too_large(limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the response would be larger than {limit} bytes (MIMIR_GRAPHQL_MAX_RESPONSE_BYTES); "
        "ask for smaller pages (`first`) or fewer fields",
        details={"max_bytes": limit})


def as_graphql_error(error: MimirError) -> GraphQLError:
    return GraphQLError(error.message, extensions={"code": error.code, "details": error.details})


def too_large_response(limit: int) -> dict[str, Any]:
    """The HTTP body of an over-size response, as Strawberry's process_result prints it."""
    return {"data": None, "errors": [as_graphql_error(too_large(limit)).formatted]}


# --- the estimate ----------------------------------------------------------------------------


class _Estimator:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 variables: dict[str, Any], page_max: int) -> None:
        self.schema, self.fragments = schema, fragments
        self.variables, self.page_max = variables, page_max
        self.fragment_costs: dict[tuple[str, str], int] = {}

    def _argument(self, field_def: Any, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, self.variables)
        return field_def.args[name].default_value

    def _count(self, value: Any, most: int) -> int:
        return max(1, min(value, most)) if isinstance(value, int) else most

    def per_row(self, selection_set: Any, parent: Any) -> int:
        """Bytes one row of `parent` costs with this selection."""
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.per_row(selection.selection_set, inner or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, parent)
        return total

    def fragment(self, name: str, parent: Any) -> int:
        key = (name, getattr(parent, "name", ""))
        if key not in self.fragment_costs:
            self.fragment_costs[key] = 0  # a cycle costs nothing more (validation refuses it)
            definition = self.fragments.get(name)
            if definition is not None:
                inner = self.schema.get_type(definition.type_condition.name.value) or parent
                self.fragment_costs[key] = self.per_row(definition.selection_set, inner)
        return self.fragment_costs[key]

    def field(self, node: FieldNode, parent: Any) -> int:
        name = node.name.value
        field_def = getattr(parent, "fields", {}).get(name)
        if field_def is None:  # __typename, introspection, or an error validation reports
            return SCALAR_BYTES
        type_ = field_def.type
        many = False
        while is_non_null_type(type_) or is_list_type(type_):
            many = many or is_list_type(type_)
            type_ = type_.of_type
        rows = 1
        if "first" in field_def.args:
            rows = self._count(self._argument(field_def, node, "first"), self.page_max)
        elif many and "limit" in field_def.args:
            rows = self._count(self._argument(field_def, node, "limit"),
                               MAX_LIMITS.get(name, MAX_LIMIT))
        elif many and not parent.name.endswith("Connection"):
            rows = LIST_FANOUT
        if node.selection_set is not None:
            return rows * (OBJECT_BYTES + self.per_row(node.selection_set, get_named_type(type_)))
        if name == "content":
            return rows * CONTENT_BYTES
        return rows * (TEXT_BYTES if get_named_type(type_).name in ("String", "JSON")
                       else SCALAR_BYTES)


def estimate(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
             variables: dict[str, Any] | None, page_max: int) -> int:
    """Estimated bytes of the response to one operation of a validated document."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    root = {"query": schema.query_type, "mutation": schema.mutation_type}.get(
        operation.operation.value)
    if root is None:
        return 0
    return _Estimator(schema, fragments, variables or {}, page_max).per_row(
        operation.selection_set, root)


def operation_estimate(schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                       operation: OperationDefinitionNode, variables: dict[str, Any] | None,
                       page_max: int) -> int:
    """As `estimate`, for an operation already picked out of its document."""
    return _Estimator(schema, fragments, variables or {}, page_max).per_row(
        operation.selection_set, schema.query_type)


# --- the Strawberry extensions ----------------------------------------------------------------


def cost_limit(max_cost: int, page_max: int) -> type[SchemaExtension]:
    class CostLimit(SchemaExtension):
        """Refuses an operation whose estimate is over the limit, before it runs."""

        def on_execute(self) -> Iterator[None]:
            context = self.execution_context
            cost = estimate(context.schema._schema, context.graphql_document,
                            context.operation_name, context.variables, page_max)
            if cost > max_cost:
                context.result = ExecutionResult(data=None, errors=[
                    as_graphql_error(too_expensive(cost, max_cost))])
            yield

    return CostLimit


def _json_size(key: str, value: Any) -> int:
    """A lower bound of the bytes `"key":value` takes in the response."""
    size = len(key) + 3
    if isinstance(value, str):
        return size + len(value)
    if isinstance(value, uuid.UUID):
        return size + 38
    if isinstance(value, datetime.datetime):
        return size + 21
    if isinstance(value, Enum):
        return size + len(value.name)
    return size + 1


def response_budget(max_bytes: int) -> type[SchemaExtension]:
    class ResponseBudget(SchemaExtension):
        """Stops resolving once the response is surely over `max_bytes`."""

        spent = 0

        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            if self.spent > max_bytes:
                raise too_large(max_bytes)
            result = _next(root, info, *args, **kwargs)
            if isawaitable(result):
                return self._count_later(result, info)
            return self._count(result, info)

        async def _count_later(self, result: Any, info: Any) -> Any:
            return self._count(await result, info)

        def _count(self, value: Any, info: Any) -> Any:
            self.spent += _json_size(str(info.path.key), value)
            if self.spent > max_bytes:
                raise too_large(max_bytes)
            return value

    return ResponseBudget


def only_error_of(result: Any, code: str) -> bool:
    """Reduce `result` to its first error with `code` (no data); False when it has none."""
    for error in result.errors or ():
        if (error.extensions or {}).get("code") == code:
            result.data = None
            result.errors = [GraphQLError(error.message, extensions=error.extensions)]
            return True
    return False


__all__ = ["QueryTooExpensive", "ResponseTooLarge", "cost_limit", "estimate",
           "only_error_of", "operation_estimate", "response_budget", "too_large_response"]
