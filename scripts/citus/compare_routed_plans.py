"""EXPLAIN and time the hot statements without and with the bound namespace, side by side.

    python scripts/citus/compare_routed_plans.py URL OLD_SQL_DIR NEW_SQL_DIR [ROUNDS]

URL: a database migrated to 0014 with data (see seed_plain.sql), on plain PostgreSQL; the
statements run as mimir_app in namespace `default`, alternating old and new each round.
OLD_SQL_DIR: sql/ before the routed statements (e.g. a checkout of the commit before);
NEW_SQL_DIR: sql/ with them. Prints the median of each and both plans.
"""
import statistics
import sys
import time

import aiosql
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

URL = sys.argv[1]
OLD = aiosql.from_path(sys.argv[2], "psycopg")
NEW = aiosql.from_path(sys.argv[3], "psycopg")
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 30
conn = psycopg.connect(URL, autocommit=True, row_factory=dict_row)
conn.execute("SET ROLE mimir_app")
conn.execute("SELECT set_config('mimir.namespace', 'default', false)")
art = conn.execute("SELECT id FROM artifacts ORDER BY id LIMIT 1 OFFSET 77").fetchone()["id"]
ver = conn.execute("SELECT id FROM artifact_versions ORDER BY id LIMIT 20").fetchall()
space = conn.execute("SELECT id FROM embedding_spaces WHERE name='bench'").fetchone()["id"]
vec = "[" + ",".join("0.5" for _ in range(32)) + "]"
NS = {"namespace": "default"}
terms = ["citus", "shard", "postgres"]

def semantic(q):
    nearest = sql.SQL(q.semantic_find_nearest.sql.strip().rstrip(";")).format(
        dims=sql.Literal(32), op=sql.SQL("<=>"), space_id=sql.Literal(str(space)))
    return sql.SQL(q.semantic_resolve_hits.sql.strip().rstrip(";")).format(nearest=nearest)

CASES = {
    "artifacts_get": (lambda q: q.artifacts_get.sql, {"id": art}),
    "search_text_postings": (lambda q: q.search_text_postings.sql, {
        "terms": terms, "idf": [1.0, 1.2, 0.8], "artifact_kinds": None, "sources": None,
        "created_after": None, "created_before": None, "k1": 1.2, "b": 0.75, "avgdl": 120.0,
        "filtered": False, "excluded": None, "limit": 10}),
    "search_text_term_stats": (lambda q: q.search_text_term_stats.sql, {"terms": terms}),
    "search_text_version_hits": (lambda q: q.search_text_version_hits.sql, {
        "ids": [r["id"] for r in ver], "snippets": False, "highlight": "citus"}),
    "semantic_nearest+resolve": (semantic, {
        "query_vector": vec, "candidates": 100, "target_types": ["span"],
        "entity_types": ["artifact_version"], "latest_only": True, "kinds": None,
        "sources": None, "created_after": None, "created_before": None}),
}
for name, (text, params) in CASES.items():
    plans, times = {}, {"old": [], "new": []}
    for label, q in (("old", OLD), ("new", NEW)):
        statement = text(q)
        p = {**params, **NS} if label == "new" else params
        conn.execute("BEGIN")
        conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        plans[label] = [r["QUERY PLAN"] for r in conn.execute(
            sql.SQL("EXPLAIN (COSTS OFF) ") + (statement if isinstance(statement, sql.Composable) else sql.SQL(statement)), p)]
        conn.execute("COMMIT")
    for _ in range(ROUNDS):
        for label, q in (("old", OLD), ("new", NEW)):
            statement = text(q)
            p = {**params, **NS} if label == "new" else params
            t = time.perf_counter()
            conn.execute(statement if isinstance(statement, sql.Composable) else statement, p).fetchall()
            times[label].append(time.perf_counter() - t)
    mo, mn = statistics.median(times["old"]) * 1e3, statistics.median(times["new"]) * 1e3
    print(f"== {name}: old {mo:.2f} ms, new {mn:.2f} ms, ratio new/old {mn/mo:.2f}")
    for label in ("old", "new"):
        print(f"-- {label}:")
        print("\n".join("   " + line for line in plans[label]))
