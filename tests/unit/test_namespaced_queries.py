"""The namespace every statement on a memory table binds (mimir.db.namespaced)."""

from __future__ import annotations

import re

import pytest

from mimir.db.namespaced import (
    CONNECTION_MARK,
    MEMORY_TABLES,
    MissingNamespace,
    NamespacedQueries,
    bind,
)
from mimir.db.queries import queries
from mimir.namespaces import context as namespace_context


class _Conn:
    """Stands in for a connection: only the namespace mark matters here."""

    def __init__(self, namespace: str | None = None) -> None:
        if namespace is not None:
            setattr(self, CONNECTION_MARK, namespace)


class _Query:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.calls: list[dict] = []

    def __call__(self, conn, **params):
        self.calls.append(params)
        return params


class _Queries:
    def __init__(self) -> None:
        self.routed = _Query("SELECT 1 FROM artifacts WHERE id = %(id)s AND namespace = %(namespace)s")
        self.plain = _Query("SELECT 1 FROM namespaces WHERE name = %(name)s")


def test_a_namespaced_statement_gets_the_connections_namespace():
    wrapped = NamespacedQueries(_Queries())
    with namespace_context.use("other"):
        assert wrapped.routed(_Conn("team-a"), id=1) == {"id": 1, "namespace": "team-a"}


def test_without_a_connection_namespace_the_one_in_force_is_bound():
    wrapped = NamespacedQueries(_Queries())
    with namespace_context.use("team-b"):
        assert wrapped.routed(_Conn(), id=1)["namespace"] == "team-b"


def test_no_namespace_anywhere_fails_loudly():
    wrapped = NamespacedQueries(_Queries())
    with pytest.raises(MissingNamespace):
        wrapped.routed(_Conn(""), id=1)
    assert wrapped.routed._query.calls == []


def test_a_namespace_the_caller_passes_is_kept():
    wrapped = NamespacedQueries(_Queries())
    assert wrapped.routed(_Conn("team-a"), id=1, namespace=None)["namespace"] is None


def test_a_statement_without_the_parameter_is_left_alone():
    inner = _Queries()
    wrapped = NamespacedQueries(inner)
    assert wrapped.plain is inner.plain
    assert wrapped.plain(_Conn(), name="x") == {"name": "x"}


def test_bind_adds_the_namespace_to_composed_sql_only_when_it_is_declared():
    conn = _Conn("team-a")
    assert bind(conn, "SELECT %(namespace)s", {"a": 1}) == {"a": 1, "namespace": "team-a"}
    assert bind(conn, "SELECT %(a)s", {"a": 1}) == {"a": 1}


_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE)\s+(\w+)", re.I)
# Statements on memory tables that are not routed by design: every namespace (integrity,
# the owner's backfill), a whole namespace read under RLS (portability), and inserts whose
# namespace is the column default (the session's namespace, evaluated on the coordinator).
_UNROUTED = re.compile(r"^(integrity_|portability_|embeddings_list_versions_without_chunks$)")


def test_every_read_update_or_delete_of_a_memory_table_binds_the_namespace():
    raw = queries._queries
    missing = []
    for name in raw.available_queries:
        if "." in name or name.endswith("_cursor") or _UNROUTED.match(name):
            continue
        text = getattr(raw, name).sql
        if {t for t in _TABLE.findall(text) if t in MEMORY_TABLES} and "%(namespace)s" not in text:
            missing.append(name)
    assert missing == []


class _Diag:
    def __init__(self, message: str, hint: str | None = None) -> None:
        self.constraint_name = None
        self.message_primary = message
        self.message_hint = hint


class _CitusError(Exception):
    """A worker's error as Citus passes it on: no constraint field."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.diag = _Diag(message, hint)


def test_a_constraint_without_its_field_is_read_from_the_message_or_the_hint():
    from mimir.db.errors import _constraint

    shard_copy = _CitusError('duplicate key value violates unique constraint "uq_relations_edge_102041"')
    assert _constraint(shard_copy.diag) == "uq_relations_edge"
    trigger = _CitusError("decision x is already superseded by y",
                          hint="constraint: decisions_superseded_is_final")
    assert _constraint(trigger.diag) == "decisions_superseded_is_final"
    assert _constraint(_CitusError("something else").diag) is None
