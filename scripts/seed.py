"""Seed a Mímir database with synthetic data for benchmarks (not for tests).

    poetry run python scripts/seed.py --artifacts 100000

Uses DATABASE_URL, or the embedded server in MIMIR_DATA_DIR (started and migrated if
needed). Everything is generated inside PostgreSQL (generate_series), so 100,000 artifacts
with a version each take seconds. Artifacts get kind, source, external_id and metadata
{"project": "p<0..49>", "team": "t<0..9>"}; relations link artifact i -> i+1 ("next") and
i -> i*7 mod N ("cites"), so multi-hop traversals have somewhere to go.
"""

from __future__ import annotations

import argparse
import time

import psycopg

from mimir.config import load_settings
from mimir.db.lifecycle import prepare_database

SEED_SQL = """
INSERT INTO artifacts (artifact_type, title, source, external_id, metadata, created_at)
SELECT (ARRAY['conversation','document','note'])[1 + i %% 3]::artifact_kind,
       'Seeded artifact ' || i, 'seed', 'seed-' || i,
       jsonb_build_object('project', 'p' || (i %% 50), 'team', 't' || (i %% 10)),
       now() - make_interval(secs => %(n)s - i)
  FROM generate_series(1, %(n)s) AS i;

INSERT INTO artifact_versions (artifact_id, version_number, content, content_hash)
SELECT a.id, 1, c.content, encode(sha256(convert_to(c.content, 'UTF8')), 'hex')
  FROM artifacts a
 CROSS JOIN LATERAL (SELECT 'Notes for ' || a.title || ': decide the launch plan, review '
                            || 'the budget, follow up with team ' || (a.metadata->>'team')
                            AS content) c
 WHERE a.source = 'seed';

WITH numbered AS (
    SELECT id, row_number() OVER (ORDER BY created_at, id) AS i FROM artifacts WHERE source = 'seed'
)
INSERT INTO relations (source_type, source_id, relation_type, target_type, target_id)
SELECT 'artifact'::entity_type, a.id, 'next', 'artifact'::entity_type, b.id
  FROM numbered a JOIN numbered b ON b.i = a.i + 1
UNION ALL
SELECT 'artifact'::entity_type, a.id, 'cites', 'artifact'::entity_type, b.id
  FROM numbered a JOIN numbered b ON b.i = 1 + (a.i * 7) %% %(n)s
 WHERE b.i <> a.i;
ANALYZE;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=100_000)
    args = parser.parse_args()
    database = prepare_database(load_settings())
    try:
        with psycopg.connect(database.conninfo, autocommit=True) as conn:
            existing = conn.execute("SELECT count(*) FROM artifacts WHERE source = 'seed'").fetchone()[0]
            if existing:
                print(f"already seeded: {existing} artifacts")
                return
            started = time.perf_counter()
            with conn.transaction():
                for statement in SEED_SQL.split(";"):
                    if statement.strip():
                        conn.execute(statement, {"n": args.artifacts} if "%(n)s" in statement else None)
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM artifacts), (SELECT count(*) FROM artifact_versions),"
                " (SELECT count(*) FROM relations)").fetchone()
            print(f"seeded artifacts={counts[0]} versions={counts[1]} relations={counts[2]} "
                  f"in {time.perf_counter() - started:.1f}s")
    finally:
        database.close()


if __name__ == "__main__":
    main()
