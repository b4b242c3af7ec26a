"""Where one hybrid search spends its time, in process, on a database `bench_scale.py` built.

    poetry run python scripts/profile_hybrid.py --size 100000 [--queries 80]

Runs the dev-set questions (as bench_scale.py asks them) through the same steps as
`hybrid_search`, one after another so each is timed alone: the query embedding, the text
list, the semantic list, the fusion, the decoration of the returned hits (snippets, match
offsets, spans), and the JSON encoding of the answer. Then the whole `hybrid_search` call,
where the text list and the embedding overlap. Prints medians and p90 (ms) per step, across
everything and within one conversation's source, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

PER_CONVERSATION = 600
# (nearest vectors fetched, hnsw.ef_search): 400/400 is what hybrid asked for before.
DEPTHS = [(400, 400), (200, 200), (100, 100), (100, 200)]


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"{statistics.median(ordered):7.1f} {ordered[int(0.9 * (len(ordered) - 1))]:7.1f}"


async def profile(conninfo: str, asked: list[str], sources: list[str], model: str) -> None:
    import psycopg
    from psycopg.rows import dict_row

    from mimir.db.session import set_namespace
    from mimir.embeddings.providers import LocalProvider
    from mimir.embeddings.service import default_space_definition
    from mimir.rest.responses import json_response
    from mimir.search.hits import attach_spans
    from mimir.search.hybrid import HybridQuery, fuse, hybrid_search
    from mimir.search.semantic import SemanticQuery, semantic_search
    from mimir.search.text import TextSearchRequest, decorate, rank_text

    provider = LocalProvider(model, query_cache_size=0)  # every question is embedded
    space = default_space_definition(provider).name
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, row_factory=dict_row)
    await set_namespace(conn, "default")
    if os.environ.get("PROFILE_AS_APP"):  # as the service runs: mimir_app, under RLS
        await conn.execute("SET ROLE mimir_app")
    await provider.embed_query("warm up")
    steps: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for scoped in (False, True):
        for i, question in enumerate(asked):
            scope = {"sources": [sources[i % len(sources)]]} if scoped else {}
            request = HybridQuery(query=question, limit=10, **scope)
            took: dict[str, float] = {}

            def lap(name: str, since: float, took: dict[str, float] = took) -> float:
                now = time.perf_counter()
                took[name] = (now - since) * 1000
                return now

            t = time.perf_counter()
            vector = await provider.embed_query(question)
            t = lap("embed query", t)
            text = await rank_text(conn, TextSearchRequest(query=question, limit=100, **scope),
                                   snippets=False)
            t = lap("text list", t)
            semantic = await semantic_search(conn, SemanticQuery(
                vector=vector, limit=100, **scope), provider, space, candidates=100)
            t = lap("semantic list (100 nearest)", t)
            hits = fuse(text["hits"], semantic["hits"], k=60, text_weight=0.4,
                        semantic_weight=0.6)[:10]
            t = lap("fusion", t)
            await decorate(conn, text["language"], text["_lexemes"],
                           [h for h in hits if h["text"] is not None], snippets=True)
            await attach_spans(conn, hits)
            t = lap("decorate", t)
            json_response({"hits": hits})
            t = lap("json", t)
            await hybrid_search(conn, request, provider, space, default_language="english")
            lap("hybrid_search (whole)", t)
            if i >= 5:  # the first few warm caches
                for name, ms in took.items():
                    steps[(name, scoped)].append(ms)
    depths: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for scoped in (False, True):
        for i, question in enumerate(asked):
            scope = {"sources": [sources[i % len(sources)]]} if scoped else {}
            vector = await provider.embed_query(question)
            for candidates, ef in DEPTHS:  # interleaved, so load changes hit all alike
                t = time.perf_counter()
                await semantic_search(conn, SemanticQuery(vector=vector, ef_search=ef, **scope)
                                      .model_copy(update={"limit": candidates}),
                                      provider, space, candidates=candidates)
                if i >= 5:
                    depths[(f"semantic list, {candidates} nearest, ef_search {ef}", scoped)
                           ].append((time.perf_counter() - t) * 1000)
    await conn.close()
    steps.update(depths)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
          f"{len(asked) - 5} questions; model {model}")
    print("| step | all: p50 | p90 | one source: p50 | p90 |\n| --- | ---: | ---: | ---: | ---: |")
    for name in dict.fromkeys(n for n, _ in steps):
        everything, one = summary(steps[(name, False)]).split(), summary(steps[(name, True)]).split()
        print(f"| {name} | {everything[0]} | {everything[1]} | {one[0]} | {one[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/mimir-scale"))
    parser.add_argument("--queries", type=int, default=80)
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    args = parser.parse_args()
    from bench_scale import questions

    from mimir.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(args.root / str(args.size))
    conninfo = server.start()
    try:
        sources = [f"conv-{i:05d}" for i in range(0, max(1, args.size // PER_CONVERSATION), 7)]
        asyncio.run(profile(conninfo, questions()[: args.queries], sources, args.model))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
