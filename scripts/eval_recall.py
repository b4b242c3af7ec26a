"""Recall of Mímir's search modes on a dev set, through the public REST API, as a client.

    poetry run python scripts/eval_recall.py chat            # synthetic multi-session chats
    poetry run python scripts/eval_recall.py chatgpt         # questions over the ChatGPT export
    poetry run python scripts/eval_recall.py scifact-train   # BEIR SciFact, train queries
    poetry run python scripts/eval_recall.py scifact-test    # ... test queries (report only)

Starts `mimir serve` on a fresh data directory (or `--url` for a running one), loads the
dev set over REST the way a client would, waits for the background queue to embed
everything, then asks every question in each mode and prints recall@5/10/20 (share of the
evidence messages in the top k; conversations) or nDCG@10 and recall@100 (SciFact), per
mode and per question type, with latency p50/p99.

Conversations are loaded as one `note` per message, `source` per conversation, the
speaker and session time in `metadata` (`--style speaker` puts "Speaker: " before the
text instead), and questions are searched within their conversation's source, as the
benchmark the recall issue describes. ChatGPT questions are searched across everything.

`--dump FILE` writes each question's text-leg and semantic-leg candidates (with scores) as
JSON Lines, for fitting fusion offline (scripts/fit_fusion.py).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEVSETS = ROOT / "scripts" / "devsets"


def shared_data() -> Path:
    for candidate in (os.environ.get("MIMIR_SHARED_DATA"), ROOT.parent / "shared" / "data",
                      "/work/shared/data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise SystemExit("no shared data directory (set MIMIR_SHARED_DATA)")


@dataclass
class Doc:
    external_id: str
    source: str
    content: str
    kind: str = "note"
    title: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass
class Question:
    id: str
    text: str
    type: str
    relevant: set[str]
    sources: list[str] | None = None


@dataclass
class DevSet:
    docs: list[Doc]
    questions: list[Question]
    metric: str  # "recall" (conversations) or "ndcg" (SciFact)


def load_chat(style: str) -> DevSet:
    data = json.loads((DEVSETS / "chat_sessions.json").read_text())
    docs = []
    for conv in data["conversations"]:
        for session in conv["sessions"]:
            for message in session["messages"]:
                text = message["text"]
                if style == "speaker":
                    text = f"{message['speaker']}: {text}"
                docs.append(Doc(message["id"], conv["id"], text, metadata={
                    "speaker": message["speaker"], "session": session["session"],
                    "date_time": session["date_time"]}))
    questions = [Question(q["id"], q["question"], q["type"], set(q["evidence"]),
                          [q["conversation_id"]])
                 for q in map(json.loads, (DEVSETS / "chat_questions.jsonl").open())]
    return DevSet(docs, questions, "recall")


def load_chatgpt(style: str) -> DevSet:
    conversations = json.loads((shared_data() / "chatgpt-export" / "conversations.json").read_text())
    docs = []
    for conv in conversations:
        for node_id, node in conv["mapping"].items():
            message = node.get("message")
            if not message or message["author"]["role"] not in ("user", "assistant"):
                continue
            parts = (message.get("content") or {}).get("parts") or []
            text = "\n".join(p for p in parts if isinstance(p, str)).strip()
            if not text:
                continue
            role = message["author"]["role"]
            if style == "speaker":
                text = f"{role}: {text}"
            docs.append(Doc(node_id, conv["id"], text, title=(conv.get("title") or None),
                            metadata={"speaker": role, "create_time": message.get("create_time")}))
    questions = [Question(q["id"], q["question"], q["type"], set(q["evidence"]))
                 for q in map(json.loads, (DEVSETS / "chatgpt_questions.jsonl").open())]
    return DevSet(docs, questions, "recall")


def load_scifact(split: str) -> DevSet:
    root = shared_data() / "beir-scifact"
    docs = [Doc(d["_id"], "beir-scifact", (d["title"] + "\n\n" + d["text"]).strip(),
                kind="document", title=d["title"][:500] or None)
            for d in map(json.loads, (root / "corpus.jsonl").open())]
    texts = {q["_id"]: q["text"] for q in map(json.loads, (root / "queries.jsonl").open())}
    qrels: dict[str, set[str]] = defaultdict(set)
    with (root / "qrels" / f"{split}.tsv").open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels[row["query-id"]].add(row["corpus-id"])
    questions = [Question(qid, texts[qid], "claim", rel, ["beir-scifact"])
                 for qid, rel in qrels.items()]
    return DevSet(docs, questions, "ndcg")


def load(name: str, style: str) -> DevSet:
    if name == "chat":
        return load_chat(style)
    if name == "chatgpt":
        return load_chatgpt(style)
    if name in ("scifact-train", "scifact-test"):
        return load_scifact(name.split("-")[1])
    raise SystemExit(f"unknown dev set {name!r}")


# ------------------------------------------------------------------------------ metrics

def recall_at(ranked: list[str], relevant: set[str], k: int = 100) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant)


def ndcg_at(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ------------------------------------------------------------------------------ client

async def wait_healthy(client: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise SystemExit("mimir did not become healthy")


async def ingest(client: httpx.AsyncClient, docs: list[Doc], concurrency: int) -> dict[str, str]:
    """POST every doc (idempotent on source + external_id); artifact id -> external id.
    Each source's docs are posted one after another, in order, as a client replaying a
    conversation would (a short message is indexed with the message stored before it);
    `concurrency` sources at a time."""
    by_source: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        by_source[doc.source].append(doc)
    queue: asyncio.Queue[list[Doc]] = asyncio.Queue()
    for group in by_source.values():
        queue.put_nowait(group)
    found: dict[str, str] = {}

    async def worker() -> None:
        while not queue.empty():
            for doc in queue.get_nowait():
                body = {"kind": doc.kind, "content": doc.content, "source": doc.source,
                        "external_id": doc.external_id, "title": doc.title,
                        "metadata": doc.metadata}
                response = await client.post("/api/v1/artifacts", json=body)
                response.raise_for_status()
                found[response.json()["id"]] = doc.external_id

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return found


async def wait_indexed(client: httpx.AsyncClient, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        stats = (await client.get("/api/v1/jobs")).json()
        pending = stats["by_status"]["todo"] + stats["by_status"]["doing"]
        if pending == 0:
            return
        if pending != last:
            print(f"  waiting for the queue: {pending} jobs pending", file=sys.stderr, flush=True)
            last = pending
        await asyncio.sleep(3)
    raise SystemExit("indexing did not finish in time")


MODES = {
    # name: (endpoint, extra body)
    "text": ("text", {}),
    "text-all": ("text", {"match": "all"}),
    "text-any": ("text", {"match": "any"}),
    "semantic": ("semantic", {}),
    "hybrid": ("hybrid", {}),
}


async def ask(client: httpx.AsyncClient, mode: str, question: Question, limit: int,
              artifact_to_doc: dict[str, str]) -> tuple[list[str], float, list[dict]]:
    endpoint, extra = MODES[mode]
    body = {"query": question.text, "limit": limit, "entity_types": ["artifact_version"], **extra}
    if question.sources:
        body["sources"] = question.sources
    started = time.perf_counter()
    response = await client.post(f"/api/v1/search/{endpoint}", json=body)
    took = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{mode} {question.id}: {response.status_code} {response.text[:300]}")
    ranked: list[str] = []
    hits = response.json()["hits"]
    for hit in hits:
        doc = artifact_to_doc.get(str(hit.get("artifact_id")))
        if doc is not None and doc not in ranked:
            ranked.append(doc)
    return ranked, took, hits


def summarise(dev: DevSet, mode: str, results: dict[str, tuple[list[str], float]]) -> list[str]:
    lines = []
    by_type: dict[str, list[Question]] = defaultdict(list)
    for question in dev.questions:
        by_type["all"].append(question)
        by_type[question.type].append(question)
    latencies = [took for _, took in results.values()]
    for qtype, questions in sorted(by_type.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        ranked = [results[q.id][0] for q in questions]
        if dev.metric == "recall":
            cells = [statistics.mean(recall_at(r, q.relevant, k) for r, q in zip(ranked, questions, strict=True))
                     for k in (5, 10, 20)]
        else:
            cells = [statistics.mean(ndcg_at(r, q.relevant) for r, q in zip(ranked, questions, strict=True)),
                     statistics.mean(recall_at(r, q.relevant, 100) for r, q in zip(ranked, questions, strict=True))]
        timing = (f" | {statistics.median(latencies):.1f} | {percentile(latencies, 0.99):.1f}"
                  if qtype == "all" else " | | ")
        lines.append(f"| {mode} | {qtype} ({len(questions)}) | "
                     + " | ".join(f"{c:.3f}" for c in cells) + timing + " |")
    return lines


async def run(args: argparse.Namespace) -> None:
    dev = load(args.dataset, args.style)
    if args.questions:
        dev.questions = dev.questions[: args.questions]
    server = None
    base_url = args.url
    if base_url is None:
        data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix=f"mimir-eval-{args.dataset}-"))
        env = {**os.environ, "MIMIR_DATA_DIR": str(data_dir), "MIMIR_PORT": str(args.port),
               "LOG_LEVEL": "WARNING", "MIMIR_RATE_LIMIT_PER_MINUTE": "0"}
        if args.model:
            env["MIMIR_EMBEDDING_MODEL"] = args.model
        server = subprocess.Popen([str(Path(sys.executable).parent / "mimir"), "serve"], env=env)  # noqa: ASYNC220
        base_url = f"http://127.0.0.1:{args.port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
            await wait_healthy(client)
            started = time.perf_counter()
            artifact_to_doc = await ingest(client, dev.docs, args.concurrency)
            posted = time.perf_counter() - started
            await wait_indexed(client, timeout_s=args.index_timeout)
            total = time.perf_counter() - started
            print(f"{args.dataset}: {len(dev.docs)} texts posted in {posted:.1f}s, searchable "
                  f"(embedded) after {total:.1f}s; {len(dev.questions)} questions", flush=True)
            if dev.metric == "recall":
                print("| mode | type (n) | R@5 | R@10 | R@20 | p50 ms | p99 ms |\n"
                      "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
            else:
                print("| mode | type (n) | nDCG@10 | R@100 | p50 ms | p99 ms |\n"
                      "| --- | --- | ---: | ---: | ---: | ---: |")
            dump = open(args.dump, "w") if args.dump else None  # noqa: ASYNC230
            limit = 100 if dev.metric == "ndcg" or dump else 20
            raw: dict[str, dict[str, list[dict]]] = defaultdict(dict)
            for mode in args.modes:
                results = {}
                for question in dev.questions:
                    ranked, took, hits = await ask(client, mode, question, limit, artifact_to_doc)
                    results[question.id] = (ranked, took)
                    if dump and mode in ("text-any", "semantic", "text"):
                        raw[question.id][mode] = [
                            {"doc": artifact_to_doc.get(str(h.get("artifact_id"))),
                             "score": h["score"], "rank": h["rank"]} for h in hits]
                for line in summarise(dev, mode, results):
                    print(line, flush=True)
            if dump:
                for question in dev.questions:
                    dump.write(json.dumps({"id": question.id, "type": question.type,
                                           "relevant": sorted(question.relevant),
                                           "legs": raw[question.id]}) + "\n")
                dump.close()
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=["chat", "chatgpt", "scifact-train", "scifact-test"])
    parser.add_argument("--modes", nargs="+", default=["text", "text-any", "semantic", "hybrid"],
                        choices=sorted(MODES))
    parser.add_argument("--style", choices=["metadata", "speaker"], default="metadata")
    parser.add_argument("--model", help="MIMIR_EMBEDDING_MODEL for the started server")
    parser.add_argument("--url", help="a running Mímir instead of starting one")
    parser.add_argument("--data-dir", type=Path, help="data directory (default: a fresh one)")
    parser.add_argument("--port", type=int, default=38141)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--questions", type=int, help="only the first N questions")
    parser.add_argument("--index-timeout", type=float, default=7200)
    parser.add_argument("--dump", help="write each question's leg candidates (JSON Lines)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
