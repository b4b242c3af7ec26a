"""Client-facing GraphQL errors: codes for cancelled statements and lone surrogates, and
no schema hints when introspection is off."""

from __future__ import annotations

from graphql import GraphQLError
from psycopg.errors import QueryCanceled

from mimir.graphql.errors import shape_error


def _raised(exc: Exception) -> GraphQLError:
    return GraphQLError(str(exc), original_error=exc)


def test_cancelled_statement_is_query_timeout():
    shaped = shape_error(_raised(QueryCanceled("canceling statement due to statement timeout")))
    assert shaped.extensions == {"code": "query_timeout"}
    assert "statement timeout" not in shaped.message


def test_lone_surrogate_is_invalid():
    try:
        "\ud800".encode()
    except UnicodeEncodeError as exc:
        shaped = shape_error(_raised(exc))
    assert shaped.extensions == {"code": "invalid"}


def test_suggestions_hidden_on_request():
    error = GraphQLError("Cannot query field 'titl' on type 'Artifact'. Did you mean 'title'?")
    assert shape_error(error, hide_suggestions=True).message == (
        "Cannot query field 'titl' on type 'Artifact'.")
    assert "Did you mean" in shape_error(error).message
    assert shape_error(error).extensions["code"] == "invalid_query"
