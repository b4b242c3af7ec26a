"""The namespace every statement on a memory table names (`namespace = :namespace`).

Row-level security keeps a connection inside its namespace (migration 0012); the bound
condition is what lets Citus route a statement to the one shard that holds the namespace
(docs/scaling.md). On plain PostgreSQL it is redundant with the policy.

Call sites do not pass it: `NamespacedQueries` wraps the aiosql query objects, and a
statement that declares `:namespace` gets the namespace the connection was put into
(`mimir.db.session.set_namespace`), else the one in force (`mimir.namespaces.context`). A
statement run where there is neither fails loudly (`MissingNamespace`) rather than
binding nothing. A caller that passes `namespace` itself (the audit log, the job list, the
session setting) keeps its value.
"""

from __future__ import annotations

from typing import Any

from mimir.namespaces import context as namespace_context

PLACEHOLDER = "%(namespace)s"
# The tables of memory content (migration 0012's TABLES): distributed by namespace on Citus.
MEMORY_TABLES = frozenset((
    "artifacts", "artifact_versions", "spans", "intent_groups", "intents", "decisions",
    "relations", "provenance", "provenance_evidence", "embeddings", "search_postings",
    "search_stats", "imports", "erasures"))
# The attribute mimir.db.session.set_namespace leaves on a connection: its namespace.
CONNECTION_MARK = "_mimir_namespace"


class MissingNamespace(RuntimeError):
    """A statement on memory tables was run outside any namespace: a bug, not a 4xx."""


def namespace_for(conn: Any) -> str:
    """The namespace a statement on `conn` is bound to."""
    value = getattr(conn, CONNECTION_MARK, None) or namespace_context.current()
    if not value:
        raise MissingNamespace("a statement on memory tables needs a namespace: none is in "
                               "force on this connection or in this context")
    return value


def bind(conn: Any, sql_text: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` with `namespace` added when `sql_text` declares it and it is missing."""
    if PLACEHOLDER in sql_text and "namespace" not in params:
        return {**params, "namespace": namespace_for(conn)}
    return params


class _Routed:
    """An aiosql query object whose `namespace` parameter is filled in when missing."""

    __slots__ = ("_query",)

    def __init__(self, query: Any) -> None:
        self._query = query

    def __call__(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and "namespace" not in kwargs:
            kwargs["namespace"] = namespace_for(conn)
        return self._query(conn, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)


class NamespacedQueries:
    """The named queries of an aiosql `Queries` object, the namespaced ones wrapped."""

    def __init__(self, queries: Any) -> None:
        self._queries = queries
        self._wrapped: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._wrapped[name]
        except KeyError:
            pass
        attribute = getattr(self._queries, name)
        text = getattr(attribute, "sql", None)
        if callable(attribute) and isinstance(text, str) and PLACEHOLDER in text:
            attribute = _Routed(attribute)
        self._wrapped[name] = attribute
        return attribute
