"""Time to erase an artifact with 100 versions and 10,000 chunks (issue 16's figure):

    PYTHONPATH=src python scripts/bench_erasure.py [--versions 100] [--chunks 10000]

Starts an embedded PostgreSQL in a temporary directory, migrates it, and writes one
artifact of VERSIONS versions (~5,000 characters each) whose chunk spans (CHUNKS in all)
each have a 384-dimension vector and an embedding provenance record, next to BACKGROUND
unrelated notes (so the tables VACUUM FULL rewrites are not empty). Then erases the
artifact through the service (one transaction) and prints the time of the transaction
and of the VACUUM (FULL, ANALYZE) that follows, separately.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from mimir.db import migrate
from mimir.db.embedded import EmbeddedPostgres
from mimir.db.session import connect_app
from mimir.erasure import service
from mimir.erasure.service import ErasureRequest

SEED = """
INSERT INTO embedding_spaces (name, model, dimensions) VALUES ('bench', 'm', 384);
INSERT INTO artifacts (artifact_type, source, title) SELECT 'note', 'background', 'note ' || g
  FROM generate_series(1, %(background)s) g;
INSERT INTO artifact_versions (artifact_id, version_number, content, content_hash)
SELECT a.id, 1, c.t, encode(sha256(convert_to(c.t, 'UTF8')), 'hex')
  FROM artifacts a, LATERAL (SELECT 'background words ' || md5(a.id::text) || ' about things'
                             AS t) c;
"""

VERSION = """
INSERT INTO artifact_versions (artifact_id, version_number, content, content_hash)
SELECT %(a)s, %(n)s, c.t, encode(sha256(convert_to(c.t, 'UTF8')), 'hex')
  FROM (SELECT string_agg('word' || md5(%(n)s::text || g::text), ' ') AS t
          FROM generate_series(1, 130) g) c
RETURNING id
"""

CHUNKS = """
WITH s AS (
    INSERT INTO spans (artifact_version_id, start_offset, end_offset, span_type, metadata)
    SELECT %(v)s, g * 40, g * 40 + 40, 'chunk', '{"chunker": "bench"}'::jsonb
      FROM generate_series(0, %(k)s - 1) g RETURNING id),
e AS (
    INSERT INTO embeddings (space_id, target_type, target_id, embedding)
    SELECT (SELECT id FROM embedding_spaces WHERE name = 'bench'), 'span', s.id,
           (SELECT array_agg(random())::real[]::vector FROM generate_series(1, 384)
             WHERE s.id IS NOT NULL)
      FROM s RETURNING target_id)
INSERT INTO provenance (target_type, target_id, model_id, metadata)
SELECT 'span', target_id, 'bench-model', '{}'::jsonb FROM e
"""


def seed(conninfo: str, versions: int, chunks: int, background: int) -> str:
    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
        for statement in SEED.strip().split(";\n"):
            conn.execute(statement, {"background": background} if "%(" in statement else None)
        artifact = conn.execute("INSERT INTO artifacts (artifact_type, source, external_id)"
                                " VALUES ('conversation', 'bench', 'big') RETURNING id"
                                ).fetchone()["id"]
        per_version = chunks // versions
        for number in range(1, versions + 1):
            version = conn.execute(VERSION, {"a": artifact, "n": number}).fetchone()["id"]
            conn.execute(CHUNKS, {"v": version, "k": per_version})
        conn.execute("VACUUM ANALYZE")
    return str(artifact)


async def erase(conninfo: str, artifact: str) -> None:
    # As the service runs it: the app role, under row-level security, in the namespace.
    async with await connect_app(conninfo, "default") as conn:
        request = ErasureRequest(scope="artifact", target=artifact, reason="bench",
                                 vacuum=False)
        started = time.perf_counter()
        record = await service.erase(conn, request, actor="bench")
        erased = time.perf_counter() - started
        started = time.perf_counter()
        await service.vacuum(conn)
        vacuumed = time.perf_counter() - started
        sizes = await (await conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('artifact_versions')) AS versions,"
            "       pg_size_pretty(pg_total_relation_size('embeddings')) AS embeddings")).fetchone()
    print(f"counts: {record['counts']}")
    print(f"erasure transaction: {erased:.2f} s; VACUUM (FULL, ANALYZE) of "
          f"{len(service.VACUUMED_TABLES)} tables: {vacuumed:.2f} s (after: {sizes})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--background", type=int, default=20_000)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="mimir-bench-erasure-"))
    server = EmbeddedPostgres(data_dir, database="bench")
    try:
        conninfo = server.start()
        migrate.upgrade(conninfo)
        started = time.perf_counter()
        artifact = seed(conninfo, args.versions, args.chunks, args.background)
        print(f"seeded {args.versions} versions, {args.chunks} chunks with vectors, "
              f"{args.background} background notes in {time.perf_counter() - started:.1f} s")
        asyncio.run(erase(conninfo, artifact))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
