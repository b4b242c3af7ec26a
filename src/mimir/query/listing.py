"""Runs one page of a listing: a named base query, filter conditions, keyset or offset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from mimir.db.namespaced import bind
from mimir.query.filters import Conditions
from mimir.query.pagination import KEYSET, PageRequest, encode_cursor

_KEYSET = sql.SQL(", ").join(sql.Identifier("t", column) for column in KEYSET)


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool


def page_query(base_sql: str, params: dict[str, Any], conditions: Conditions,
               page: PageRequest) -> tuple[sql.Composed, dict[str, Any]]:
    """Wrap `base_sql` (a named query's text; it must select `created_at` and `id`) as a
    subquery, filter it, and page it in (created_at, id) order. PostgreSQL flattens the
    subquery, so the (created_at, id) indexes still serve the order and the keyset.

    This stays psycopg.sql composition rather than a named query in sql/: the WHERE is
    built per request from the filters given (query/filters.py), and the base is any
    listing query."""
    where = [conditions.where()]
    bound = {**params, **conditions.params}
    if page.after is not None:
        where.append(sql.SQL("({}) > (%(after_created_at)s, %(after_id)s)").format(_KEYSET))
        bound.update(after_created_at=page.after.created_at, after_id=page.after.id)
    query = sql.SQL(
        "SELECT * FROM ({base}) AS t WHERE {where} ORDER BY {keyset} "
        "LIMIT %(page_limit)s OFFSET %(page_offset)s"
    ).format(base=sql.SQL(base_sql.strip().rstrip(";")), where=sql.SQL(" AND ").join(where),
             keyset=_KEYSET)
    bound.update(page_limit=page.limit + 1, page_offset=page.offset)
    return query, bound


async def fetch_page(conn: AsyncConnection, base_sql: str, params: dict[str, Any],
                     conditions: Conditions, page: PageRequest) -> Page:
    """One page (one row more is read to know whether another page follows)."""
    query, bound = page_query(base_sql, bind(conn, base_sql, params), conditions, page)
    cursor = await conn.execute(query, bound)
    rows = await cursor.fetchall()
    has_more = len(rows) > page.limit
    items = rows[: page.limit]
    return Page(items=items, next_cursor=encode_cursor(items[-1]) if has_more else None,
                has_more=has_more)
