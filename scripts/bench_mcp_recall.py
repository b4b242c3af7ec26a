"""`recall` through MCP next to the same hybrid search through REST: p50/p99 latency,
side by side, in the same run.

    python scripts/bench_mcp_recall.py                       # starts `mimir serve` itself
    python scripts/bench_mcp_recall.py --base-url http://127.0.0.1:38000 --key <key>

Without --base-url it starts `mimir serve` on a free port (DATABASE_URL if set, else the
embedded PostgreSQL in MIMIR_DATA_DIR; default local embedding model, in-process worker),
stores --docs short notes over REST (idempotent on source + external id), waits until the
queue has embedded them, warms both paths up, then times --calls sequential calls of each,
alternating which goes first. Both ask the same query with the same defaults (hybrid,
limit 10); MCP's `recall` also fetches each hit's version to quote it and its provenance,
so the difference is the protocol plus the citations. Times are client wall-clock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_recall import percentile, wait_healthy, wait_indexed

TOPICS = ["weekly sync", "release train", "database failover", "sourdough starter",
          "tomato seedlings", "invoice approval", "onboarding checklist", "api keys",
          "backup schedule", "quarterly planning"]
VERBS = ["moves to", "depends on", "was blocked by", "needs a decision about", "replaces"]
QUERIES = ["when is the weekly sync", "who approves invoices", "database failover plan",
           "sourdough starter feeding", "backup schedule change", "quarterly planning dates"]


def _doc(i: int) -> dict:
    rng = random.Random(i)
    a, b = rng.sample(TOPICS, 2)
    text = (f"Note {i}: the {a} {rng.choice(VERBS)} the {b}. "
            f"We agreed to revisit the {a} on day {rng.randint(1, 28)}.")
    return {"kind": "note", "content": text, "source": "bench-mcp", "external_id": f"n{i}"}


async def _seed(http: httpx.AsyncClient, count: int) -> None:
    for i in range(count):
        (await http.post("/api/v1/artifacts", json=_doc(i))).raise_for_status()


async def _measure(base: str, key: str | None, calls: int) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    times: dict[str, list[float]] = {"MCP recall": [], "REST /search/hybrid": []}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as rest, \
            httpx2.AsyncClient(headers=headers, timeout=120) as raw, \
            streamable_http_client(f"{base}/mcp", http_client=raw) as (read, write), \
            ClientSession(read, write, client_info=Implementation(
                name="bench-mcp-recall", version="1")) as mcp:
        await mcp.initialize()

        async def via_mcp(query: str) -> None:
            call = await mcp.call_tool("recall", {"query": query, "limit": 10})
            if call.is_error:
                raise SystemExit(f"recall failed: {call.content[0].text}")

        async def via_rest(query: str) -> None:
            (await rest.post("/api/v1/search/hybrid",
                             json={"query": query, "limit": 10})).raise_for_status()

        for query in QUERIES:  # warm-up: model loaded, plans cached, pool filled
            await via_mcp(query)
            await via_rest(query)
        for i in range(calls):
            query = QUERIES[i % len(QUERIES)]
            pair = [("MCP recall", via_mcp), ("REST /search/hybrid", via_rest)]
            for name, call in (pair if i % 2 == 0 else pair[::-1]):
                start = time.perf_counter()
                await call(query)
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def _serve() -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.process import free_port

    port = free_port()
    env = {**os.environ, "MIMIR_WORKER": "inprocess", "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "mimir.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url")
    parser.add_argument("--key", default=os.environ.get("MIMIR_API_KEY"))
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    proc, base = (None, args.base_url) if args.base_url else _serve()
    try:
        headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
            await wait_healthy(http)
            await _seed(http, args.docs)
            await wait_indexed(http, timeout_s=1800)
        times = await _measure(base, args.key, args.calls)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"{args.docs} notes, {args.calls} sequential calls each, same queries, limit 10\n")
    print("| path | calls | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    for name, samples in times.items():
        print(f"| {name} | {len(samples)} | {percentile(samples, 0.5):.1f} | "
              f"{percentile(samples, 0.99):.1f} | {sum(samples) / len(samples):.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
