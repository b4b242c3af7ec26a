"""Domain-core figures on a seeded database (run scripts/seed.py first):

    MIMIR_DATA_DIR=/tmp/mimir-bench poetry run python scripts/bench_domain.py

Starts `mimir serve` on that data directory, then over real HTTP on loopback measures
p50/p99 of a filtered list page and of a 5-hop traversal (sequential requests), prints
the plan PostgreSQL uses for each (EXPLAIN ANALYZE), and measures appends per second to
one artifact with 16 concurrent writers. Timings on a shared machine are noisy: compare
medians from one run, not single numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from mimir.artifacts.service import ARTIFACT_FILTERS
from mimir.db.queries import queries
from mimir.query.filters import Conditions, parse_filters
from mimir.query.listing import page_query
from mimir.query.pagination import PageRequest
from mimir.relations.service import TRAVERSAL_WORK_LIMIT

LIST_FILTERS = {"kind": "document", "metadata__project": "p7"}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def timed(client: httpx.AsyncClient, url: str, params: dict, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(url, params=params() if callable(params) else params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def report(name: str, samples: list[float]) -> None:
    print(f"{name}: n={len(samples)} p50={statistics.median(samples):.2f} ms "
          f"p99={percentile(samples, 0.99):.2f} ms")


async def appends(client: httpx.AsyncClient, writers: int, seconds: float) -> None:
    artifact = (await client.post("/api/v1/artifacts", json={"kind": "note", "content": "x"})).json()
    url = f"/api/v1/artifacts/{artifact['id']}/versions"
    deadline = time.monotonic() + seconds
    ok = errors = 0

    async def writer(w: int) -> None:
        nonlocal ok, errors
        i = 0
        while time.monotonic() < deadline:
            i += 1
            response = await client.post(url, json={"content": f"writer {w} append {i}"})
            if response.status_code == 201:
                ok += 1
            else:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*[writer(w) for w in range(writers)])
    elapsed = time.monotonic() - started
    print(f"appends to one artifact, {writers} concurrent writers: {ok / elapsed:.0f}/s "
          f"({ok} in {elapsed:.1f}s, {errors} errors)")


def explain(conninfo: str, label: str, query, params) -> None:
    with psycopg.connect(conninfo) as conn:
        prefix = psycopg.sql.SQL("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ")
        body = psycopg.sql.SQL(query) if isinstance(query, str) else query
        plan = conn.execute(prefix + body, params).fetchall()
    print(f"--- plan: {label}")
    for (line,) in plan:
        print("   ", line)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--port", type=int, default=38123)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("MIMIR_DATA_DIR", "/tmp/mimir-bench"))
    env = {**os.environ, "MIMIR_DATA_DIR": str(data_dir), "MIMIR_PORT": str(args.port),
           "LOG_LEVEL": "WARNING", "MIMIR_DB_POOL_MAX": "20",
           "MIMIR_RATE_LIMIT_PER_MINUTE": "0"}
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
        [str(Path(sys.executable).parent / "mimir"), "serve"], env=env)
    conninfo = f"host={data_dir / 'pgdata'} dbname=mimir user=postgres"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=30,
                                     limits=httpx.Limits(max_connections=64)) as client:
            for _ in range(100):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            with psycopg.connect(conninfo) as conn:
                ids = [r[0] for r in conn.execute(
                    "SELECT id FROM artifacts WHERE source = 'seed' ORDER BY random() LIMIT 500")]
                total = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
            print(f"database: {total} artifacts")

            await timed(client, "/api/v1/artifacts", LIST_FILTERS, 20)  # warm-up
            report("filtered list page (kind=document, metadata__project=p7, limit 50)",
                   await timed(client, "/api/v1/artifacts", LIST_FILTERS, args.requests))
            conditions = Conditions()
            parse_filters(LIST_FILTERS, ARTIFACT_FILTERS, conditions)
            query, params = page_query(queries.artifacts_list.sql, {}, conditions, PageRequest(limit=50))
            explain(conninfo, "filtered list page", query, params)

            def traverse_params():
                return {"from_type": "artifact", "from_id": str(random.choice(ids)),
                        "direction": "out", "max_depth": 5, "relation_types": "next"}

            await timed(client, "/api/v1/relations/traverse", traverse_params, 20)
            report("5-hop traversal (relation_types=next, direction=out)",
                   await timed(client, "/api/v1/relations/traverse", traverse_params, args.requests))
            report("5-hop traversal (all relation types: 2 edges per node, 62 paths)",
                   await timed(client, "/api/v1/relations/traverse",
                               lambda: {**traverse_params(), "relation_types": "next,cites"},
                               args.requests))
            explain(conninfo, "5-hop traversal", queries.relations_traverse.sql, {
                "from_type": "artifact", "from_id": ids[0], "direction": "out",
                "relation_types": ["next"], "max_depth": 5, "work_limit": TRAVERSAL_WORK_LIMIT,
                "path_limit": 101})

            await appends(client, args.writers, args.seconds)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
