"""POST /graphql, read-only operations: answered by one SQL statement when they compile.

An ASGI middleware in front of the Strawberry router, inside authentication, rate and body
limits. For a JSON request it looks up (query, operationName, variables) in a bounded cache
of compiled statements; on a miss it parses (with the token limit), validates against the
schema, checks the depth and alias limits and compiles (src/mimir/graphql/compiler.py).
Whatever does not compile, or fails while running, goes to Strawberry unchanged: errors,
limits and mutations have one implementation.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.utilities import get_operation_ast
from psycopg.rows import tuple_row
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mimir.config import Settings
from mimir.db.namespaced import bind
from mimir.graphql import body as json_body
from mimir.graphql.caches import ByteLRU, document_weight
from mimir.graphql.compiler import NotCompilable, compile_operation
from mimir.graphql.cost import operation_estimate
from mimir.logging import get_logger

log = get_logger("mimir.graphql")

_FALLBACK = object()
_REQUEST_KEYS = {"query", "variables", "operationName"}
# Larger requests are compiled every time, so the caches stay small whatever clients send.
_CACHEABLE_BYTES = 64 * 1024
_CACHE_BYTES = 32 * 1024 * 1024  # per cache (plans, documents), as weighed in caches.py
# The response is the statement's one text; over the cap it is NULL and the request goes
# to the resolvers, which word the error. The timeout holds for this transaction only.
_CAPPED = "SELECT CASE WHEN octet_length(r) <= %(mimir_cap)s THEN r END FROM ({}) AS s(r)"
_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"


def _depth(selection_set: Any, fragments: dict[str, FragmentDefinitionNode],
           seen: frozenset[str] = frozenset()) -> int:
    """Nesting depth of field selections, following fragments."""
    deepest = 0
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            deepest = max(deepest, (1 + _depth(selection.selection_set, fragments, seen))
                          if selection.selection_set else 1)
        elif hasattr(selection, "selection_set"):  # inline fragment
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen))
        else:
            name = selection.name.value
            if name in seen or name not in fragments:
                return 10**6  # a cycle or an unknown fragment: let validation speak
            deepest = max(deepest, _depth(fragments[name].selection_set, fragments,
                                          seen | {name}))
    return deepest


def _alias_count(document: DocumentNode) -> int:
    count = 0

    def walk(selection_set: Any) -> None:
        nonlocal count
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode) and selection.alias is not None:
                count += 1
            walk(getattr(selection, "selection_set", None))

    for definition in document.definitions:
        walk(getattr(definition, "selection_set", None))
    return count


class CompiledReads:
    """Answers compilable GraphQL reads with one statement; passes everything else on."""

    def __init__(self, app: ASGIApp, *, schema: GraphQLSchema, settings: Settings,
                 cache_size: int = 512) -> None:
        self.app = app
        self.schema = schema
        self.settings = settings
        # (query, operation, variables) -> plan; query -> (document, fragments) or _FALLBACK
        self.plans = ByteLRU(cache_size, _CACHE_BYTES)
        self.documents = ByteLRU(cache_size, _CACHE_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or scope["path"] != "/graphql" or not _is_json(scope)):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        plan = self.plan(body)
        if plan is not None:
            data = await self._run(scope, plan)
            if data is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode())]})
                await send({"type": "http.response.body", "body": data})
                return
        await self.app(scope, _replay(body, receive), send)

    async def _run(self, scope: Scope, plan: tuple[str, dict[str, Any]]) -> bytes | None:
        statement, params = plan
        settings = self.settings
        try:
            async with scope["app"].state.pool.connection() as conn, conn.transaction():
                async with conn.cursor(row_factory=tuple_row) as cursor:
                    await cursor.execute(_TIMEOUT, (settings.graphql_statement_timeout,))
                    await cursor.execute(_CAPPED.format(statement), {
                        **bind(conn, statement, params),
                        "mimir_cap": settings.graphql_max_response_bytes})
                    row = await cursor.fetchone()
        except Exception as exc:  # the normal path reports it (503, masked error, ...)
            log.warning("compiled GraphQL read failed; using the resolvers",
                        error_type=type(exc).__name__)
            return None
        return row[0].encode() if row and row[0] is not None else None

    def plan(self, body: bytes) -> tuple[str, dict[str, Any]] | None:
        """The compiled statement for a request body, or None for the Strawberry path."""
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict) or not set(request) <= _REQUEST_KEYS:
            return None
        if json_body.could_be_deep(body) and json_body.too_deep(request):
            return None  # the normal path refuses it
        query, variables = request.get("query"), request.get("variables") or {}
        operation_name = request.get("operationName")
        if (not isinstance(query, str) or not isinstance(variables, dict)
                or not isinstance(operation_name, str | None)):
            return None
        cacheable = len(body) <= _CACHEABLE_BYTES
        try:
            key = (query, operation_name, orjson.dumps(variables, option=orjson.OPT_SORT_KEYS))
        except orjson.JSONEncodeError:
            return None
        plan = self.plans.get(key) if cacheable else None
        if plan is None:
            plan = self._compile(query, operation_name, variables, cacheable)
            if cacheable:
                weight = len(query) + len(key[2]) + (0 if plan is _FALLBACK else len(plan[0]))
                self.plans.put(key, plan, weight)
        return None if plan is _FALLBACK else plan

    def _document(self, query: str, cacheable: bool) -> Any:
        cached = self.documents.get(query) if cacheable else None
        if cached is not None:
            return cached
        cached = _FALLBACK
        try:
            document = parse(query, max_tokens=self.settings.graphql_max_tokens)
        except GraphQLError:
            document = None
        if document is not None and not validate(self.schema, document):
            fragments = {d.name.value: d for d in document.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            # Leave anything near a limit to the normal path, which words the error.
            deepest = max((_depth(d.selection_set, fragments) for d in document.definitions
                           if isinstance(d, OperationDefinitionNode)), default=0)
            if (deepest < self.settings.graphql_max_depth
                    and _alias_count(document) < self.settings.graphql_max_aliases):
                cached = (document, fragments)
        if cacheable:
            self.documents.put(query, cached, document_weight(query))
        return cached

    def _compile(self, query: str, operation_name: str | None, variables: dict,
                 cacheable: bool) -> Any:
        parsed = self._document(query, cacheable)
        if parsed is _FALLBACK:
            return _FALLBACK
        document, fragments = parsed
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return _FALLBACK
        coerced = get_variable_values(self.schema, operation.variable_definitions or (),
                                      variables)
        if isinstance(coerced, list):  # coercion errors
            return _FALLBACK
        settings = self.settings
        if operation_estimate(self.schema, fragments, operation, variables,
                              settings.page_max_limit) > settings.graphql_max_cost:
            return _FALLBACK  # the normal path refuses it
        try:
            return compile_operation(self.schema, fragments, operation, coerced,
                                     settings.page_max_limit)
        except NotCompilable:
            return _FALLBACK


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that first yields the body already read, then the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


__all__ = ["CompiledReads"]
