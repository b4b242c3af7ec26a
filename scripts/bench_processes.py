"""Many API processes, measured side by side in one run (issue 17).

    python scripts/bench_processes.py                 # both parts
    python scripts/bench_processes.py --part ratelimit --rounds 5

- `ratelimit`: the cost per request of the rate limit kept in PostgreSQL. Three servers
  (one process each) on one database: limit off, MIMIR_RATE_LIMIT_STORE=process and
  =postgres (a budget too large to refuse). Rounds alternate between them; each round is
  `--seconds` of GET /api/v1/artifacts?limit=1 from `--clients` concurrent clients.
- `processes`: throughput of a nested GraphQL read and of full-text search with
  `mimir serve --workers 1, 2, 4` (all three servers running, rounds alternating).
- `replica`: the same two reads at 1, 2 and 4 API processes, each without and with a read
  replica: a primary and a streaming standby on this machine (tests/streaming_replica.py),
  six servers on the primary running at once, three of them with
  MIMIR_DATABASE_REPLICA_URLS set to the standby; rounds alternate over all six. Reads are
  sent without X-Mimir-Read-After (nothing is written during the rounds), so the replica
  serves every read of the servers that have it. Not part of `both`.
- `replica-routing`: GraphQL at 1 API process: no replica, the standby as replica, and the
  primary itself configured as "replica" (not a standby, so skipped: every read goes
  through the routing to the primary), to tell the routing's cost from the standby's.

Prints the median over rounds of requests per second and of p50 latency, and ratios to the
first configuration, with the load average. The clients run in this process: on a small
machine they take CPU from the servers, which caps what more processes can show.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.faults import Server, database_url, mimir_env  # noqa: E402
from tests.soak_load import GRAPHQL_NESTED, WORDS  # noqa: E402


async def _load(base_url: str, make_request, *, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        deadline = time.monotonic() + seconds

        async def client(number: int) -> None:
            nonlocal errors
            rng = random.Random(number)
            while time.monotonic() < deadline:
                method, url, body = make_request(rng)
                started = time.perf_counter()
                response = await http.request(method, url, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(client(n) for n in range(clients)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50_ms": latencies[len(latencies) // 2],
            "errors": errors}


def _seed(base_url: str, artifacts: int) -> list[str]:
    rng = random.Random(3)
    ids = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for n in range(artifacts):
            body = http.post("/api/v1/artifacts", json={
                "kind": "note", "title": f"bench {n}",
                "content": " ".join(rng.choice(WORDS) for _ in range(120))})
            body.raise_for_status()
            ids.append(body.json()["id"])
    return ids


def _report(title: str, rows: dict[str, list[dict]]) -> None:
    print(f"\n{title} (median of {len(next(iter(rows.values())))} rounds; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    first = None
    for name, results in rows.items():
        rps = statistics.median(r["rps"] for r in results)
        p50 = statistics.median(r["p50_ms"] for r in results)
        errors = sum(r["errors"] for r in results)
        first = first or (rps, p50)
        print(f"  {name:<28} {rps:8.1f} req/s  x{rps / first[0]:.2f}   p50 {p50:7.2f} ms  "
              f"x{p50 / first[1]:.2f}   non-200: {errors}")


def _statement_cost(conninfo: str, blocks: int = 10, calls: int = 200) -> None:
    """The rate limit's statement alone, against `SELECT 1` (a bare round trip), on one
    connection, alternating blocks: median microseconds per call."""
    import psycopg

    timings: dict[str, list[float]] = {"SELECT 1": [], "mimir_rate_limit_take": []}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for block in range(blocks):
            for name, sql, params in (
                    ("SELECT 1", "SELECT 1", ()),
                    ("mimir_rate_limit_take", "SELECT mimir_rate_limit_take(%s, 1e9, 1e7)",
                     (f"key:bench{block % 4}",))):
                started = time.perf_counter()
                for _ in range(calls):
                    conn.execute(sql, params).fetchone()
                timings[name].append((time.perf_counter() - started) / calls * 1e6)
    base = statistics.median(timings["SELECT 1"])
    print(f"\nstatement alone, one connection (median of {blocks} blocks of {calls}; load "
          f"average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    for name, values in timings.items():
        value = statistics.median(values)
        print(f"  {name:<28} {value:8.1f} us/call  x{value / base:.2f}")


def _start(env: dict[str, str], log: Path, **extra: str) -> Server:
    return Server({**env, **extra}, log).start(within_s=300)


def _requests(ids: list[str]):
    """The two measured reads: a nested GraphQL read of a random artifact, and full-text
    search for two random words."""
    def graphql(rng):
        return "POST", "/graphql", {"query": GRAPHQL_NESTED,
                                    "variables": {"id": rng.choice(ids)}}

    def search(rng):
        return "POST", "/api/v1/search/text", {
            "query": " ".join(rng.sample(WORDS, 2)), "match": "any", "limit": 10}

    return (("GraphQL nested read", graphql), ("full-text search", search))


def _measure(configs: dict[str, Server], request, args: argparse.Namespace,
             rounds: int | None = None) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {name: [] for name in configs}
    names = list(configs)
    for number in range(args.rounds if rounds is None else rounds):
        # The order rotates: no configuration always comes first.
        for name in names[number % len(names):] + names[:number % len(names)]:
            rows[name].append(asyncio.run(_load(configs[name].base_url, request,
                                                clients=args.clients, seconds=args.seconds)))
    return rows


def _replica_part(args: argparse.Namespace, scratch: Path, servers: list[Server],
                  counts: tuple[int, ...] = (1, 2, 4), routing_only: bool = False) -> None:
    """`counts` API processes without and with the standby as read replica; with
    `routing_only` also a server whose one "replica" is the primary itself (not a standby,
    so always skipped): the routing's cost without a second server. GraphQL only then."""
    from tests.streaming_replica import StreamingPair

    pair = StreamingPair(max_connections=300)  # six servers, up to 14 processes, one primary
    try:
        pair.start("mimir")
        env = mimir_env(pair.primary.conninfo("mimir"), MIMIR_EMBEDDING_PROVIDER="none",
                        MIMIR_WORKER="off", MIMIR_RATE_LIMIT_PER_MINUTE="0",
                        MIMIR_AUTO_MIGRATE="false", MIMIR_DATA_DIR=str(scratch / "data"))
        replica = {"MIMIR_DATABASE_REPLICA_URLS": pair.standby.url("mimir")}
        configs: dict[str, Server] = {}
        for n in counts:
            configs[f"{n} process(es), primary"] = _start(
                env, scratch / f"p{n}.log", MIMIR_WORKERS=str(n))
            configs[f"{n} process(es), + replica"] = _start(
                env, scratch / f"r{n}.log", MIMIR_WORKERS=str(n), **replica)
            if routing_only:
                configs[f"{n} process(es), routing only"] = _start(
                    env, scratch / f"s{n}.log", MIMIR_WORKERS=str(n),
                    MIMIR_DATABASE_REPLICA_URLS=pair.primary.url("mimir"))
            servers.extend(list(configs.values())[len(servers):])
        ids = _seed(servers[0].base_url, args.artifacts)
        pair.wait_replayed()
        time.sleep(5)  # every child started, every replica monitor current
        for title, request in _requests(ids)[:1 if routing_only else 2]:
            _measure(configs, request, args, rounds=1)  # warm-up, discarded
            rows = _measure(configs, request, args)
            _report(f"{title}, {args.clients} clients, primary + streaming standby", rows)
            for n in counts:
                with_replica, without = (statistics.median(
                    r["rps"] for r in rows[f"{n} process(es), {mode}"])
                    for mode in ("+ replica", "primary"))
                print(f"  {n} process(es): with the replica / without x{with_replica / without:.2f}")
            _replica_reads(configs)
    finally:
        for server in reversed(servers):
            server.stop()
        servers.clear()
        pair.stop()


def _replica_reads(configs: dict[str, Server]) -> None:
    """How many requests the replica served, per server with one (its /health, from
    whichever process answers: a sample, not a total, with several processes)."""
    for name, server in configs.items():
        if "+ replica" in name:
            entry = httpx.get(server.base_url + "/health", timeout=10).json()["replicas"][0]
            print(f"  {name}: replica usable={entry['usable']}, reads served by the "
                  f"answering process {entry['reads_served']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["ratelimit", "processes", "both", "replica",
                                           "replica-routing"], default="both")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--artifacts", type=int, default=200)
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="mimir-bench-processes-"))
    servers: list[Server] = []
    if args.part in ("replica", "replica-routing"):
        try:
            if args.part == "replica":
                _replica_part(args, scratch, servers)
            else:
                _replica_part(args, scratch, servers, counts=(1,), routing_only=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return 0
    base = mimir_env(MIMIR_DATA_DIR=str(scratch / "data"), MIMIR_EMBEDDING_PROVIDER="none",
                     MIMIR_WORKER="off", MIMIR_RATE_LIMIT_PER_MINUTE="0")
    try:
        first = _start(base, scratch / "serve0.log")  # prepares the embedded database
        servers.append(first)
        external = {**base, "DATABASE_URL": database_url(
            f"host={scratch / 'data' / 'pgdata'} dbname=mimir user=postgres"),
            "MIMIR_AUTO_MIGRATE": "false"}
        ids = _seed(first.base_url, args.artifacts)

        def listing(rng):
            return "GET", "/api/v1/artifacts?limit=1", None

        def measure(configs: dict[str, Server], request,
                    rounds: int | None = None) -> dict[str, list[dict]]:
            return _measure(configs, request, args, rounds)

        if args.part in ("ratelimit", "both"):
            budget = {"MIMIR_RATE_LIMIT_PER_MINUTE": "1000000"}
            configs = {
                "no rate limit": first,
                "store=process": _start(external, scratch / "rl1.log", **budget,
                                        MIMIR_RATE_LIMIT_STORE="process"),
                "store=postgres": _start(external, scratch / "rl2.log", **budget,
                                         MIMIR_RATE_LIMIT_STORE="postgres"),
            }
            servers += list(configs.values())[1:]
            measure(configs, listing, rounds=1)  # warm-up, discarded
            _report("rate limit, GET /api/v1/artifacts?limit=1, 1 process each",
                    measure(configs, listing))
            for server in list(configs.values())[1:]:
                server.stop()
            _statement_cost(f"host={scratch / 'data' / 'pgdata'} dbname=mimir user=postgres")
        if args.part in ("processes", "both"):
            configs = {"1 process": _start(external, scratch / "p1.log", MIMIR_WORKERS="1"),
                       "2 processes": _start(external, scratch / "p2.log", MIMIR_WORKERS="2"),
                       "4 processes": _start(external, scratch / "p4.log", MIMIR_WORKERS="4")}
            servers += list(configs.values())
            time.sleep(5)  # let every child finish starting
            for title, request in _requests(ids):
                measure(configs, request, rounds=1)  # warm-up, discarded
                _report(f"{title}, {args.clients} clients", measure(configs, request))
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
