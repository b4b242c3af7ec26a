"""`mimir import mimir`: load a `mimir-export` file into an empty database, with the same
ids and timestamps, in one transaction (all or nothing).

Records are read as a stream and loaded with COPY in batches, in the order of the format
(each table's references point to tables loaded before it). The database's rules are kept,
not switched off, so insertion order does what the original history did:
- intent groups arrive as `active` and the merges are applied afterwards, one level of a
  merge chain at a time, deepest first (a group can only be merged into an unmerged one);
- superseded decisions arrive as `active` and are superseded afterwards, oldest link of a
  chain first (a successor must still be current when it is set);
- relations whose source or target is another relation are held back until the relation
  they point at is loaded;
- versions come in version order per artifact (numbering is gap-free), and each embedding
  space gets its HNSW index again once its vectors are in.
Memory is bounded by the batch size plus the merged groups, superseded decisions and
relations-between-relations, which are kept until their table is complete.

Into a namespace (`restore_namespace`, issue 16): the rows are written by the app role in
that namespace (row-level security: every row lands there), and only that namespace must be
empty. Embedding spaces are shared by all namespaces: a space of the file that exists
already (same id) is kept as it is, a new one is added with its HNSW index. Ids keep their values, and ids are
primary keys across the whole database: the same export restored into a second namespace
is refused (nothing written) with a message saying so.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection, sql

from mimir.db import citus
from mimir.db.queries import queries
from mimir.db.session import has_citus
from mimir.embeddings.service import create_space_index
from mimir.transfer.guard import JsonLimits, bounded_lines
from mimir.transfer.mimir_format import (
    ADDED_IN_2,
    ADDED_IN_3,
    FORMAT_NAME,
    FORMAT_VERSION,
    JSON_COLUMNS,
    READABLE_VERSIONS,
    TABLES,
)

BATCH_ROWS = 2000
TABLE_ORDER = list(TABLES)


class RestoreError(Exception):
    """The file cannot be restored (bad format, out-of-order records, non-empty database,
    or a row the database rejects); nothing was written."""


@contextmanager
def open_input(path: str, limits: JsonLimits | None = None):
    """A binary line stream of the export: stdin for `-`; gzip is recognised by content.
    With `limits` (an upload), lines, total size and gzip expansion are bounded."""
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
        size = os.fstat(probe.fileno()).st_size
    with (gzip.open(path, "rb") if compressed else open(path, "rb")) as handle:
        if limits is None:
            yield handle
        else:
            yield bounded_lines(handle, limits, size if compressed else None)


def chain_levels(edges: dict[str, str]) -> list[list[str]]:
    """Group the links `x -> edges[x]` of chains by their distance from the chain's end,
    farthest first: applying level by level, each link's target has not been linked yet."""
    depth: dict[str, int] = {}
    for start in edges:
        path: list[str] = []
        node = start
        while node in edges and node not in depth:
            path.append(node)
            node = edges[node]
            if len(path) > len(edges):
                raise RestoreError(f"the chain from {start} is a cycle")
        level = depth.get(node, 0)
        for item in reversed(path):
            level += 1
            depth[item] = level
    levels: dict[int, list[str]] = {}
    for item, level in depth.items():
        levels.setdefault(level, []).append(item)
    return [levels[level] for level in sorted(levels, reverse=True)]


def _value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return orjson.dumps(value).decode()
    return value


def _defaults(version: int) -> dict[str, dict[str, object]]:
    added = {2: ADDED_IN_2, 3: ADDED_IN_3}
    merged: dict[str, dict[str, object]] = {}
    for since, fields in added.items():
        if version < since:
            for table, values in fields.items():
                merged.setdefault(table, {}).update(values)
    return merged


class _Loader:
    def __init__(self, conn: AsyncConnection, progress: Callable[[str, int], None] | None, *,
                 version: int = FORMAT_VERSION, known_spaces: set[str] | None = None):
        self.conn = conn
        # Into a namespace: the spaces already in the database (kept), else None.
        self.known_spaces = known_spaces
        self.staged: set[str] = set()  # tables with a staging table (into a namespace)
        # Older records lack the fields later versions added; they get those defaults.
        self.defaults = _defaults(version)
        self.group_names: set[str] = set()
        self.progress = progress
        self.position = 0  # index in TABLE_ORDER of the table being loaded
        self.batch: list[tuple[Any, ...]] = []
        self.counts = dict.fromkeys(TABLES, 0)
        self.merges: dict[str, str] = {}
        self.supersessions: dict[str, str] = {}
        self.meta_relations: dict[str, tuple[tuple[Any, ...], set[str]]] = {}
        self.spaces: list[dict[str, Any]] = []

    async def add(self, table: str, data: dict[str, Any]) -> None:
        if table not in TABLES:
            raise RestoreError(f"unknown record type {table!r}; expected one of "
                               f"{', '.join(TABLE_ORDER)}")
        index = TABLE_ORDER.index(table)
        if index < self.position:
            raise RestoreError(f"{table} record after {TABLE_ORDER[self.position]} records: "
                               f"records must come in the order {', '.join(TABLE_ORDER)}")
        await self._advance(index)
        columns = TABLES[table]
        defaults = self.defaults.get(table, {})
        expected = [c for c in columns if c not in defaults]
        if not isinstance(data, dict) or set(data) != set(expected):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise RestoreError(f"a {table} record must have exactly the fields "
                               f"{', '.join(expected)}; got {got}")
        row = {**defaults, **data}
        if table == "intent_groups":
            # Names are unique since migration 0008; an older export may repeat one: the
            # first group keeps it, later ones become "<name> (<id>)", as the migration does.
            if row["name"] in self.group_names:
                row["name"] = f"{row['name']} ({row['id']})"
            self.group_names.add(row["name"])
        if table == "intent_groups" and row["status"] == "merged":
            self.merges[row["id"]] = row["merged_into_id"]
            row["status"], row["merged_into_id"] = "active", None
        elif table == "decisions" and row["status"] == "superseded":
            self.supersessions[row["id"]] = row["superseded_by_id"]
            row["status"], row["superseded_by_id"] = "active", None
        elif table == "embedding_spaces":
            if self.known_spaces is not None and str(row["id"]) in self.known_spaces:
                self.counts[table] += 1
                return
            self.spaces.append(row)
        values = tuple(_value(c, row[c]) for c in columns)
        if table == "relations" and "relation" in (row["source_type"], row["target_type"]):
            refs = {row[f"{end}_id"] for end in ("source", "target")
                    if row[f"{end}_type"] == "relation"}
            self.meta_relations[row["id"]] = (values, refs)
            self.counts[table] += 1
            return
        self.batch.append(values)
        self.counts[table] += 1
        if len(self.batch) >= BATCH_ROWS:
            await self._flush()

    async def finish(self) -> dict[str, int]:
        await self._advance(len(TABLE_ORDER))
        return self.counts

    async def _flush(self, rows: list[tuple[Any, ...]] | None = None) -> None:
        table = TABLE_ORDER[self.position]
        rows = self.batch if rows is None else rows
        if not rows:
            return
        statement = getattr(queries, f"portability_copy_{table}").sql.rstrip().rstrip(";")
        if self.known_spaces is not None and citus.on_citus(self.conn):
            await self._insert(statement, rows)
        elif self.known_spaces is not None:
            await self._copy_through_staging(statement, rows)
        else:
            async with self.conn.cursor() as cur, cur.copy(statement) as copy:
                for values in rows:
                    await copy.write_row(values)
        if rows is self.batch:
            self.batch = []
        if self.progress:
            self.progress(table, self.counts[table])

    async def _copy_through_staging(self, statement: str,
                                    rows: list[tuple[Any, ...]]) -> None:
        """COPY under row-level security: PostgreSQL refuses COPY FROM into a table with
        RLS, so the rows are copied into a temporary table of the same columns (dropped at
        commit), then inserted, in the order they came, through the policies."""
        table, columns = copy_target(statement)
        staging = sql.Identifier(f"mimir_restore_{table}")
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        if table not in self.staged:
            await self.conn.execute(sql.SQL(
                "CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {names} FROM {table} "
                "WITH NO DATA").format(staging=staging, names=names,
                                       table=sql.Identifier(table)))
            await self.conn.execute(sql.SQL(
                "ALTER TABLE {staging} ADD COLUMN restore_order bigserial").format(
                    staging=staging))
            self.staged.add(table)
        copy = sql.SQL("COPY {staging} ({names}) FROM STDIN").format(staging=staging,
                                                                      names=names)
        async with self.conn.cursor() as cur:
            async with cur.copy(copy) as stream:
                for values in rows:
                    await stream.write_row(values)
            await cur.execute(sql.SQL(
                "INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
                "ORDER BY restore_order").format(table=sql.Identifier(table), names=names,
                                                 staging=staging))
            await cur.execute(sql.SQL("TRUNCATE {staging}").format(staging=staging))

    async def _insert(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Into a namespace on Citus: plain INSERTs, routed to the namespace's shard (Citus
        writes an INSERT ... SELECT from a coordinator table by COPY, which row-level
        security refuses, so the staging table cannot be used there)."""
        table, columns = copy_target(statement)
        insert = sql.SQL("INSERT INTO {table} ({names}) VALUES ({values})").format(
            table=sql.Identifier(table),
            names=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            values=sql.SQL(", ").join(sql.Placeholder() * len(columns)))
        async with self.conn.cursor() as cur:
            await cur.executemany(insert, rows)

    async def _advance(self, index: int) -> None:
        """Complete every table before `index`: flush its rows and apply its second pass."""
        while self.position < index:
            await self._flush()
            await self._complete(TABLE_ORDER[self.position])
            self.position += 1

    async def _complete(self, table: str) -> None:
        if table == "intent_groups":
            for level in chain_levels(self.merges):
                await queries.portability_merge_groups(
                    self.conn, ids=level, target_ids=[self.merges[i] for i in level])
        elif table == "decisions":
            for level in chain_levels(self.supersessions):
                await queries.portability_supersede_decisions(
                    self.conn, ids=level, successor_ids=[self.supersessions[i] for i in level])
        elif table == "relations":
            pending = self.meta_relations
            while pending:
                ready = [rid for rid, (_, refs) in pending.items() if not refs & pending.keys()]
                if not ready:
                    raise RestoreError("relations between relations form a cycle: "
                                       f"{', '.join(sorted(pending))}")
                await self._flush([pending.pop(rid)[0] for rid in ready])
        elif table == "embeddings" and not citus.on_citus(self.conn):
            # (On Citus after the commit: `index_new_spaces`.)
            for space in self.spaces:
                await create_space_index(self.conn, {**space, "id": uuid.UUID(space["id"])})

    async def index_new_spaces(self) -> None:
        """On Citus, the new spaces' HNSW indexes, each in a transaction of its own after
        the restore's: the index function runs as its owner, and Citus refuses DDL by one
        role on shards (colocated ones included) that another role wrote in the same
        transaction."""
        if not citus.on_citus(self.conn):
            return
        for space in self.spaces:
            async with self.conn.transaction():
                await create_space_index(self.conn, {**space, "id": uuid.UUID(space["id"])})


_COPY = re.compile(r"COPY\s+(\w+)\s*\(([^)]*)\)\s+FROM\s+STDIN", re.S)


def copy_target(copy_statement: str) -> tuple[str, list[str]]:
    """The table and columns of one of sql/portability.sql's COPY statements (constants of
    this program, never input)."""
    found = _COPY.fullmatch(copy_statement.strip())
    if found is None:
        raise RuntimeError(f"not a COPY ... FROM STDIN statement: {copy_statement[:60]!r}")
    return found.group(1), [c.strip() for c in found.group(2).split(",")]


def _header(line: bytes) -> dict[str, Any]:
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise RestoreError(f"not a {FORMAT_NAME} file: the first line must be its header "
                           f'{{"format": "{FORMAT_NAME}", "version": {FORMAT_VERSION}, ...}}')
    if header.get("version") not in READABLE_VERSIONS:
        raise RestoreError(f"{FORMAT_NAME} version {header.get('version')!r} is not supported; "
                           f"this Mímir reads versions "
                           f"{', '.join(str(v) for v in READABLE_VERSIONS)}")
    return header


def _records(lines: Iterator[bytes]) -> Iterator[tuple[int, str, Any]]:
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            yield number, record["type"], record["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise RestoreError(f"line {number}: not a record "
                               '(expected {"type": "<table>", "data": {...}})') from None


async def restore_database(conn: AsyncConnection, lines: Iterable[bytes], *,
                           progress: Callable[[str, int], None] | None = None
                           ) -> dict[str, int]:
    """Load an export into this (empty) database in one transaction; returns the row count
    per table. Raises RestoreError, and writes nothing, when anything is wrong."""
    return await _restore(conn, lines, progress, into_namespace=False)


async def restore_namespace(conninfo: str, namespace: str, lines: Iterable[bytes], *,
                            progress: Callable[[str, int], None] | None = None,
                            app_role: bool = True) -> dict[str, int]:
    """Load an export into the (empty) namespace `namespace`, as the app role in it."""
    from mimir.db.session import connect_app

    async with await connect_app(conninfo, namespace, app_role=app_role) as conn:
        return await _restore(conn, lines, progress, into_namespace=True)


async def _restore(conn: AsyncConnection, lines: Iterable[bytes],
                   progress: Callable[[str, int], None] | None, *, into_namespace: bool
                   ) -> dict[str, int]:
    stream = iter(lines)
    first = next(stream, b"")
    header = _header(first)
    loader = _Loader(conn, progress, version=header["version"])
    try:
        async with conn.transaction():
            if citus.on_citus(conn) or await has_citus(conn):
                citus.mark(conn)
                # One connection per worker, in order: the global tables (reference tables
                # on Citus: embedding spaces) are then writable after the distributed ones.
                await citus.set_local(conn, {"citus.multi_shard_modify_mode": "sequential"})
            else:
                await queries.portability_lock_tables(conn)
            filled = [t for t, used in (await queries.portability_list_nonempty_tables(conn)).items()
                      if used and not (into_namespace and t == "embedding_spaces")]
            if filled:
                where = "namespace" if into_namespace else "database"
                raise RestoreError(f"the {where} is not empty (it has rows in "
                                   f"{', '.join(filled)}); restore only goes into an empty "
                                   f"{where}, e.g. a new one after `mimir "
                                   f"{'namespaces create' if into_namespace else 'migrate'}`")
            if into_namespace:
                loader.known_spaces = {row["id"] async for row in
                                       queries.portability_list_space_ids(conn)}
            number = 1
            for number, table, data in _records(stream):
                try:
                    await loader.add(table, data)
                except RestoreError as exc:
                    raise RestoreError(f"line {number}: {exc}") from None
            counts = await loader.finish()
        await loader.index_new_spaces()
        return counts
    except psycopg.errors.UniqueViolation as exc:
        if not into_namespace:
            raise RestoreError(_rejected(loader, exc)) from None
        # Keys are (id, namespace) since migration 0014: an id is unique in its namespace
        # (an export restored into two namespaces makes two copies with the same ids).
        raise RestoreError(
            f"{_rejected(loader, exc)}: its ids are in use already in this namespace") from None
    except psycopg.Error as exc:
        raise RestoreError(_rejected(loader, exc)) from None


def _rejected(loader: _Loader, exc: psycopg.Error) -> str:
    where = TABLE_ORDER[min(loader.position, len(TABLE_ORDER) - 1)]
    detail = (exc.diag.message_primary or str(exc)).strip()
    return f"the database rejected the {where} records: {detail}"
