"""`mimir export`: every row of every domain table, streamed to a JSON Lines file.

One consistent snapshot (a REPEATABLE READ, read-only transaction); each table is read
through a server-side cursor a batch at a time, so memory stays bounded whatever the size
of the database. A path ending in `.gz` is gzip-compressed; `-` is standard output.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from mimir.db.queries import queries
from mimir.transfer.mimir_format import FORMAT_NAME, FORMAT_VERSION, TABLES

BATCH_ROWS = 2000


@contextmanager
def open_output(path: str):
    """A binary stream to write the export to: stdout for `-`, gzip for `*.gz`."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as handle:
        yield handle


def _record(table: str, row: dict[str, Any]) -> bytes:
    if "embedding" in row:  # pgvector's text form is already a JSON array
        row["embedding"] = orjson.Fragment(row["embedding"])
    return orjson.dumps({"type": table, "data": row}, option=orjson.OPT_APPEND_NEWLINE)


async def export_database(conn: AsyncConnection, out: IO[bytes], *,
                          progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write the header and every row to `out`; returns the row count per table."""
    counts: dict[str, int] = {}
    async with conn.transaction():
        await queries.database_begin_read_snapshot(conn)
        revision = await queries.database_get_revision(conn)
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                  "exported_at": datetime.now(UTC),
                  "schema_revision": revision["version_num"] if revision else None}
        out.write(orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE))
        for table in TABLES:
            query = getattr(queries, f"portability_export_{table}")
            count = 0
            async with conn.cursor(name=f"mimir_export_{table}", row_factory=dict_row) as cur:
                cur.itersize = BATCH_ROWS
                await cur.execute(query.sql.rstrip().rstrip(";"))
                while rows := await cur.fetchmany(BATCH_ROWS):
                    out.write(b"".join(_record(table, row) for row in rows))
                    count += len(rows)
                    if progress:
                        progress(table, count)
            counts[table] = count
    return counts
