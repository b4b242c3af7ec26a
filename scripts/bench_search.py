"""Retrieval quality and speed on BEIR SciFact, through Mímir's public API.

    MIMIR_DATA_DIR=/tmp/mimir-scifact poetry run python scripts/bench_search.py

Starts `mimir serve` on that data directory (default local embedding model, in-process
worker), loads the 5,183 SciFact abstracts as `document` artifacts over REST (skipped
when already loaded), waits until the background queue has embedded every chunk, then
runs the 300 test queries in text, semantic and hybrid mode and reports nDCG@10 and
Recall@100 (standard definitions, binary relevance from qrels/test.tsv), ingest
throughput (documents/s including embedding) and p50/p99 search latency per mode.
Nothing is tuned to individual queries. `--hnsw` adds HNSW recall@10 against exact
search on 100,000 synthetic vectors (written straight into the database).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir-scifact"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_recall import (  # noqa: E402  (the dev-set runner shares its client helpers)
    ndcg_at,
    percentile,
    recall_at,
    wait_healthy,
    wait_indexed,
)


def load_beir(root: Path):
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (root / "queries.jsonl").open())}
    qrels: dict[str, set[str]] = {}
    with (root / "qrels" / "test.tsv").open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return corpus, {qid: queries[qid] for qid in qrels}, qrels


async def ingest(client: httpx.AsyncClient, corpus: list[dict], concurrency: int) -> dict[str, str]:
    """POST every document (idempotent by external_id); returns artifact id -> doc id."""
    queue: asyncio.Queue = asyncio.Queue()
    for doc in corpus:
        queue.put_nowait(doc)
    artifact_to_doc: dict[str, str] = {}

    async def worker() -> None:
        while not queue.empty():
            doc = queue.get_nowait()
            content = (doc["title"] + "\n\n" + doc["text"]).strip()
            response = await client.post("/api/v1/artifacts", json={
                "kind": "document", "title": doc["title"][:500] or None, "content": content,
                "source": "beir-scifact", "external_id": doc["_id"]})
            response.raise_for_status()
            artifact_to_doc[response.json()["id"]] = doc["_id"]

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return artifact_to_doc


async def run_mode(client, mode: str, queries: dict[str, str], artifact_to_doc: dict[str, str],
                   qrels: dict[str, set[str]]) -> dict[str, float]:
    ndcgs, recalls, latencies = [], [], []
    for qid, text in queries.items():
        body = {"query": text, "limit": 100, "entity_types": ["artifact_version"],
                "sources": ["beir-scifact"]}
        if mode == "text":
            body["match"] = "any"
        started = time.perf_counter()
        response = await client.post(f"/api/v1/search/{mode}", json=body)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        ranked = []
        for hit in response.json()["hits"]:
            doc = artifact_to_doc.get(str(hit["artifact_id"]))
            if doc is not None and doc not in ranked:
                ranked.append(doc)
        ndcgs.append(ndcg_at(ranked, qrels[qid]))
        recalls.append(recall_at(ranked, qrels[qid]))
    return {"ndcg@10": statistics.mean(ndcgs), "recall@100": statistics.mean(recalls),
            "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99)}


def hnsw_recall(conninfo: str, n: int = 100_000, dims: int = 384, queries: int = 200) -> None:
    """HNSW recall@10 against exact search on n random unit vectors (one space, SQL)."""
    import numpy as np
    import psycopg

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        space = conn.execute("SELECT id FROM embedding_spaces WHERE name = 'bench-synthetic'").fetchone()
        if space is None:
            space_id = conn.execute(
                "INSERT INTO embedding_spaces (name, model, dimensions, distance) "
                "VALUES ('bench-synthetic', 'random', %s, 'cosine') RETURNING id", (dims,)).fetchone()[0]
            started = time.perf_counter()
            ids = [r[0] for r in conn.execute(
                "INSERT INTO intents (statement) SELECT 'synthetic ' || i FROM generate_series(1, %s) i "
                "RETURNING id", (n,))]
            with conn.cursor().copy("COPY embeddings (space_id, target_type, target_id, embedding) "
                                    "FROM STDIN") as copy:
                for target, vector in zip(ids, vectors, strict=True):
                    copy.write_row((space_id, "intent", target, "[" + ",".join(map(str, vector)) + "]"))
            conn.execute(f"CREATE INDEX ix_embeddings_hnsw_{space_id.hex} ON embeddings USING hnsw "
                         f"((embedding::vector({dims})) vector_cosine_ops) WHERE space_id = '{space_id}'")
            print(f"synthetic: {n} vectors loaded and indexed in {time.perf_counter() - started:.0f}s")
        else:
            space_id = space[0]
        probe = rng.standard_normal((queries, dims)).astype(np.float32)
        probe /= np.linalg.norm(probe, axis=1, keepdims=True)
        order = f"embedding::vector({dims}) <=> %s::vector({dims})"
        where = f"space_id = '{space_id}'"
        for ef in (40, 100, 200):
            hits, took = 0, []
            for q in probe:
                literal = "[" + ",".join(map(str, q)) + "]"
                with conn.transaction():
                    conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
                    started = time.perf_counter()
                    approx = {r[0] for r in conn.execute(
                        f"SELECT target_id FROM embeddings WHERE {where} ORDER BY {order} LIMIT 10",
                        (literal,))}
                    took.append((time.perf_counter() - started) * 1000)
                    conn.execute("SET LOCAL enable_indexscan = off")
                    exact = {r[0] for r in conn.execute(
                        f"SELECT target_id FROM embeddings WHERE {where} ORDER BY {order} LIMIT 10",
                        (literal,))}
                hits += len(approx & exact)
            print(f"HNSW ef_search={ef}: recall@10 {hits / (10 * len(probe)):.3f}, "
                  f"p50 {statistics.median(took):.2f} ms over {len(probe)} queries")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=38131)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--hnsw", action="store_true", help="also measure HNSW recall")
    parser.add_argument("--hnsw-only", action="store_true", help="only measure HNSW recall")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("MIMIR_DATA_DIR", "/tmp/mimir-scifact"))
    if args.hnsw_only:
        run_hnsw(data_dir)
        return
    corpus, queries, qrels = load_beir(args.data)
    env = {**os.environ, "MIMIR_DATA_DIR": str(data_dir), "MIMIR_PORT": str(args.port),
           "LOG_LEVEL": "WARNING", "MIMIR_RATE_LIMIT_PER_MINUTE": "0"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "mimir"), "serve"], env=env)  # noqa: ASYNC220
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=120) as client:
            await wait_healthy(client)
            started = time.perf_counter()
            artifact_to_doc = await ingest(client, corpus, args.concurrency)
            posted = time.perf_counter() - started
            await wait_indexed(client, timeout_s=3600)
            total = time.perf_counter() - started
            print(f"ingest: {len(corpus)} documents posted in {posted:.1f}s "
                  f"({len(corpus) / posted:.0f}/s); embedded and searchable after {total:.1f}s "
                  f"({len(corpus) / total:.1f} documents/s including embedding)")
            print("| mode | nDCG@10 | Recall@100 | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |")
            for mode in ("text", "semantic", "hybrid"):
                r = await run_mode(client, mode, queries, artifact_to_doc, qrels)
                print(f"| {mode} | {r['ndcg@10']:.3f} | {r['recall@100']:.3f} | "
                      f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |", flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    if args.hnsw:
        run_hnsw(data_dir)


def run_hnsw(data_dir: Path) -> None:
    """Start the embedded server of that data directory for the HNSW measurement."""
    from mimir.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(data_dir)
    try:
        hnsw_recall(server.start())
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
