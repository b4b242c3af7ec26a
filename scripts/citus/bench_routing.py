"""Latency of one lookup by id as the app role: plain PostgreSQL vs Citus (fan-out vs routed).

    python scripts/citus/bench_routing.py --plain <conninfo> --citus <conninfo> \
        [--rows 20000] [--queries 400] [--rounds 3]

Both databases are Mímir databases at migration 0012 (the Citus one distributed by
scripts/citus/make_mimir_db.sh). The script seeds `--rows` artifacts split over the
namespaces `default` and `bench-b` (as the connecting superuser), then, alternating in
rounds, times `--queries` lookups of a random own artifact by id as `mimir_app`:

- plain: the service's statement on plain PostgreSQL (RLS, session-level namespace);
- plain-tx: the same on plain PostgreSQL inside BEGIN / SET LOCAL / COMMIT (the cost of
  the transaction wrapper alone, three more round trips);
- citus fan-out: the same statement on Citus, inside BEGIN / SET LOCAL mimir.namespace /
  COMMIT (the only way the namespace reaches the shards): Citus sends it to every shard;
- citus routed: the statement with `AND namespace = %s` (a bound value), which Citus
  prunes to the namespace's one shard.

Prints the median and p90 per round (ms), and medians over rounds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import psycopg
from psycopg import sql

NAMESPACES = ("default", "bench-b")
LOOKUP = "SELECT id, title, source, created_at FROM artifacts WHERE id = %s"
ROUTED = LOOKUP + " AND namespace = %s"


def seed(conninfo: str, rows: int) -> list[str]:
    """Artifacts of the namespace `default` to look up (half of `rows`)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO namespaces (name) VALUES ('bench-b') ON CONFLICT DO NOTHING")
        have = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
        if have < rows:
            for ns in NAMESPACES:
                conn.execute(
                    "INSERT INTO artifacts (artifact_type, title, source, namespace) "
                    "SELECT 'note', 'bench ' || g, 'bench', %s FROM generate_series(1, %s) g",
                    (ns, rows // 2))
        conn.execute("ANALYZE artifacts")
        return [r[0] for r in conn.execute(
            "SELECT id::text FROM artifacts WHERE namespace = 'default' LIMIT 5000")]


def app_connection(conninfo: str, *, session_namespace: bool) -> psycopg.Connection:
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute("SET ROLE mimir_app")
    if session_namespace:
        conn.execute("SELECT set_config('mimir.namespace', 'default', false)")
    return conn


def timed(conn: psycopg.Connection, ids: list[str], queries: int, mode: str) -> list[float]:
    out = []
    set_local = sql.SQL("SET LOCAL mimir.namespace = {}").format(sql.Literal("default"))
    for _ in range(queries):
        target = random.choice(ids)
        start = time.perf_counter()
        if mode == "plain":
            row = conn.execute(LOOKUP, (target,)).fetchone()
        else:
            with conn.transaction():
                conn.execute(set_local)
                if mode in ("fan-out", "plain-tx"):
                    row = conn.execute(LOOKUP, (target,)).fetchone()
                else:
                    row = conn.execute(ROUTED, (target, "default")).fetchone()
        out.append((time.perf_counter() - start) * 1000)
        if row is None:
            raise RuntimeError(f"{mode}: artifact {target} not visible")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plain", required=True)
    parser.add_argument("--citus", required=True)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    plain_ids = seed(args.plain, args.rows)
    citus_ids = seed(args.citus, args.rows)
    plain = app_connection(args.plain, session_namespace=True)
    citus = app_connection(args.citus, session_namespace=False)
    medians: dict[str, list[float]] = {"plain": [], "plain-tx": [], "fan-out": [], "routed": []}
    for round_no in range(1, args.rounds + 1):
        for mode in medians:
            conn, ids = (plain, plain_ids) if mode.startswith("plain") else (citus, citus_ids)
            timed(conn, ids, 20, mode)  # warm-up
            values = timed(conn, ids, args.queries, mode)
            med = statistics.median(values)
            p90 = statistics.quantiles(values, n=10)[-1]
            medians[mode].append(med)
            print(f"round {round_no} {mode:8s} median {med:6.2f} ms  p90 {p90:6.2f} ms")
    base = statistics.median(medians["plain"])
    for mode, values in medians.items():
        med = statistics.median(values)
        print(f"{mode:8s} median of rounds {med:6.2f} ms  ratio to plain {med / base:5.2f}")


if __name__ == "__main__":
    main()
