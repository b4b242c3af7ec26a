"""The context endpoint on the ChatGPT export: latency and how full it packs the budget.

    poetry run python scripts/bench_context.py                     # budgets 500 2000 8000
    poetry run python scripts/bench_context.py --budgets 1000 --questions 50

Imports /work/shared/data/chatgpt-export (or $MIMIR_SHARED_DATA/chatgpt-export) with
`mimir import chatgpt` into a fresh data directory, starts `mimir serve` on it (in-process
worker: the start-up backfill embeds every version), waits for the queue, then asks each
question of scripts/devsets/chatgpt_questions.jsonl at each budget through
POST /api/v1/context and prints, per budget, latency p50/p99, fill (tokens_used / budget)
mean, p10 and p50, pieces per answer, and how many answers were cut or merged. Each
answer's citations are checked against GET /api/v1/artifacts/{id}/versions/{n}: a wrong
slice stops the run. `--url` measures a running server instead (nothing is imported);
`--no-wait` measures before the queue is done (the semantic list then covers only the
versions embedded so far; the report says how many).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from eval_recall import DEVSETS, percentile, shared_data, wait_healthy, wait_indexed


def mimir_command() -> str:
    return str(Path(sys.executable).parent / "mimir")


async def check_citations(client: httpx.AsyncClient, body: dict, cache: dict) -> None:
    for piece in body["pieces"]:
        if piece["entity_type"] != "artifact_version":
            continue
        key = (piece["artifact_id"], piece["version_number"])
        if key not in cache:
            response = await client.get(f"/api/v1/artifacts/{key[0]}/versions/{key[1]}")
            response.raise_for_status()
            cache[key] = response.json()["content"]
        if cache[key][piece["start_offset"]:piece["end_offset"]] != piece["text"]:
            raise SystemExit(f"citation does not slice its version: {piece['marker']}")


async def measure(client: httpx.AsyncClient, questions: list[str], budget: int) -> str:
    took, fill, pieces, cut, merged = [], [], [], 0, 0
    cache: dict = {}
    for question in questions:
        started = time.perf_counter()
        response = await client.post("/api/v1/context", json={"query": question,
                                                               "budget": budget})
        took.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        body = response.json()
        assert body["tokens_used"] <= budget, body["tokens_used"]
        await check_citations(client, body, cache)
        fill.append(body["tokens_used"] / budget)
        pieces.append(len(body["pieces"]))
        cut += any(p["truncated"] for p in body["pieces"])
        merged += any(p["merged"] for p in body["pieces"])
    return (f"| {budget} | {len(questions)} | {percentile(took, 0.5):.0f} | "
            f"{percentile(took, 0.99):.0f} | {statistics.mean(fill):.2f} | "
            f"{percentile(fill, 0.1):.2f} | {percentile(fill, 0.5):.2f} | "
            f"{statistics.mean(pieces):.1f} | {cut} | {merged} |")


async def run(args: argparse.Namespace) -> None:
    questions = [json.loads(line)["question"]
                 for line in (DEVSETS / "chatgpt_questions.jsonl").open()]
    questions = questions[: args.questions] if args.questions else questions
    server, base_url = None, args.url
    if base_url is None:
        data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="mimir-bench-context-"))
        env = {**os.environ, "MIMIR_DATA_DIR": str(data_dir), "MIMIR_PORT": str(args.port),
               "LOG_LEVEL": "WARNING", "MIMIR_RATE_LIMIT_PER_MINUTE": "0"}
        export = shared_data() / "chatgpt-export" / "conversations.json"
        subprocess.run([mimir_command(), "import", "chatgpt", str(export)], env=env,  # noqa: ASYNC221
                       check=True)
        server = subprocess.Popen([mimir_command(), "serve"], env=env)  # noqa: ASYNC220
        base_url = f"http://127.0.0.1:{args.port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
            await wait_healthy(client)
            started = time.perf_counter()
            if args.no_wait:
                jobs = (await client.get("/api/v1/jobs")).json()["by_status"]
                print(f"not waiting for the queue: {jobs['succeeded']} embedding jobs done, "
                      f"{jobs['todo'] + jobs['doing']} pending", flush=True)
            else:
                await wait_indexed(client, timeout_s=args.index_timeout)
                print(f"indexed after {time.perf_counter() - started:.0f}s", flush=True)
            print(f"{len(questions)} questions", flush=True)
            # One warm-up request: the tokenizer and the query embedder load on first use.
            await client.post("/api/v1/context", json={"query": "warm up", "budget": 100})
            print("| budget | questions | p50 ms | p99 ms | fill mean | fill p10 | fill p50 "
                  "| pieces | cut | merged |\n"
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for budget in args.budgets:
                print(await measure(client, questions, budget), flush=True)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[500, 2000, 8000])
    parser.add_argument("--questions", type=int, help="only the first N questions")
    parser.add_argument("--url", help="a running Mímir instead of starting one")
    parser.add_argument("--data-dir", type=Path, help="data directory (default: a fresh one)")
    parser.add_argument("--port", type=int, default=38151)
    parser.add_argument("--index-timeout", type=float, default=7200)
    parser.add_argument("--no-wait", action="store_true", help="measure without waiting for "
                        "the embedding queue (semantic list over what is embedded so far)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
