"""Search latency at scale: text and hybrid search over 10k / 100k / 1M generated messages.

    poetry run python scripts/bench_scale.py --sizes 10000 100000
    poetry run python scripts/bench_scale.py --sizes 1000000 --no-vectors   # text only
    poetry run python scripts/bench_scale.py --sizes 1000000 --build-only   # build, no timing

For each size, in its own embedded PostgreSQL (`--root`/<size>, kept for reruns):
1. Generates the messages with a bigram model trained on real conversational text (the
   ChatGPT export in ../shared/data and the dev-set chats), 10 words to 3 sentences each,
   600 messages per conversation (`source`), and loads them as `note` artifacts with COPY.
   The postings trigger runs for every row, so the load rate is the indexing rate
   (reported next to the same load with the trigger disabled, on a sample).
2. Writes one random unit vector per message (a chunk span over the whole note) into the
   default local model's space and builds its HNSW index (this measures search, not the
   embedder; random vectors are the hardest case for HNSW).
3. Starts `mimir serve` on that database and asks natural-language questions (the dev sets'
   questions) through REST: text (defaults) and hybrid (defaults), across everything and
   within one conversation's source. Prints p50/p99 (ms) and EXPLAIN ANALYZE of the
   postings query for one question.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from bisect import bisect
from collections import defaultdict
from itertools import accumulate
from pathlib import Path

import httpx
import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from eval_recall import load_chat, load_chatgpt  # noqa: E402

PER_CONVERSATION = 600
WORD = re.compile(r"[A-Za-z']+|[.!?]")


class Bigrams:
    """Sentences from a bigram model of real text: a realistic (Zipfian) vocabulary."""

    def __init__(self, texts: list[str], seed: int = 11) -> None:
        follows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for text in texts:
            previous = "."
            for token in WORD.findall(text):
                follows[previous][token] += 1
                previous = token
        self.table = {}
        for word, nxt in follows.items():
            words = list(nxt)
            self.table[word] = (words, list(accumulate(nxt[w] for w in words)))
        self.random = random.Random(seed)

    def _next(self, word: str) -> str:
        words, cumulative = self.table.get(word) or self.table["."]
        return words[bisect(cumulative, self.random.random() * cumulative[-1])]

    def message(self) -> str:
        sentences = []
        target_words = self.random.randint(10, 45)  # 10 words to about three sentences
        count = 0
        while count < target_words and len(sentences) < 3:
            words, token = [], "."
            for _ in range(30):
                token = self._next(token)
                if token in ".!?":
                    break
                words.append(token)
            if not words:
                continue
            count += len(words)
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + (token if token in ".!?" else "."))
        return " ".join(sentences)


def corpus_texts() -> list[str]:
    texts = [d.content for d in load_chat("metadata").docs]
    texts += [d.content for d in load_chatgpt("metadata").docs]
    return texts


def questions() -> list[str]:
    found = [q.text for q in load_chat("metadata").questions]
    found += [q.text for q in load_chatgpt("metadata").questions]
    random.Random(5).shuffle(found)
    return found


def load_messages(conninfo: str, n: int, generator: Bigrams) -> float:
    """COPY n notes (artifact + version 1) in batches; returns messages per second."""
    import hashlib
    import uuid

    started = time.perf_counter()
    batch = 20_000
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for first in range(0, n, batch):
            rows = []
            for i in range(first, min(n, first + batch)):
                text = generator.message()
                rows.append((uuid.uuid4(), f"conv-{i // PER_CONVERSATION:05d}", f"m{i}", text,
                             hashlib.sha256(text.encode()).hexdigest()))
            with conn.transaction():
                with conn.cursor().copy("COPY artifacts (id, artifact_type, source, external_id) "
                                        "FROM STDIN") as copy:
                    for aid, source, ext, _, _ in rows:
                        copy.write_row((aid, "note", source, ext))
                with conn.cursor().copy("COPY artifact_versions (artifact_id, version_number, "
                                        "content, content_hash) FROM STDIN") as copy:
                    for aid, _, _, text, digest in rows:
                        copy.write_row((aid, 1, text, digest))
            print(f"  loaded {min(n, first + batch)}/{n} "
                  f"({min(n, first + batch) / (time.perf_counter() - started):.0f}/s)",
                  file=sys.stderr, flush=True)
        conn.execute("VACUUM ANALYZE artifacts, artifact_versions, search_postings, search_stats")
    return n / (time.perf_counter() - started)


TRIGGER_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def trigger_cost(conninfo: str, generator: Bigrams, sample: int = 5000) -> tuple[float, float]:
    """Load rate (rows/s) of `sample` notes with and without the postings trigger, side by
    side in one run, rolled back."""
    import hashlib
    import uuid

    rates = []
    with psycopg.connect(conninfo) as conn:
        for enabled in (True, False, True, False):
            texts = [generator.message() for _ in range(sample)]
            ids = [uuid.uuid4() for _ in texts]
            if not enabled:
                conn.execute("ALTER TABLE artifact_versions DISABLE TRIGGER "
                             "trg_artifact_versions_search_index")
            started = time.perf_counter()
            # Conversations in order, one message a second: each short note finds the one
            # before it (migration 0010), as in a real ingest.
            with conn.cursor().copy("COPY artifacts (id, artifact_type, source, created_at) "
                                    "FROM STDIN") as copy:
                for i, aid in enumerate(ids):
                    copy.write_row((aid, "note", f"bench-trigger-{i // PER_CONVERSATION}",
                                    TRIGGER_EPOCH + datetime.timedelta(seconds=i)))
            with conn.cursor().copy("COPY artifact_versions (artifact_id, version_number, "
                                    "content, content_hash) FROM STDIN") as copy:
                for aid, text in zip(ids, texts, strict=True):
                    copy.write_row((aid, 1, text, hashlib.sha256(text.encode()).hexdigest()))
            rates.append((enabled, sample / (time.perf_counter() - started)))
            conn.rollback()
    with_trigger = statistics.median(r for e, r in rates if e)
    without = statistics.median(r for e, r in rates if not e)
    return with_trigger, without


def load_vectors(conninfo: str, space: str, dims: int = 384) -> None:
    """A chunk span over each note and a vector for it, built as the normalised sum of a
    fixed random vector per word (so texts sharing words are near, as with a real model,
    rather than uniformly random, which no real corpus is); HNSW built afterwards."""
    rng = np.random.default_rng(3)
    word_vectors: dict[str, np.ndarray] = {}

    def embed(text: str) -> np.ndarray:
        total = np.zeros(dims, dtype=np.float32)
        for word in WORD.findall(text.lower()):
            vector = word_vectors.get(word)
            if vector is None:
                vector = word_vectors[word] = rng.standard_normal(dims).astype(np.float32)
            total += vector
        total += rng.standard_normal(dims).astype(np.float32)
        return total / np.linalg.norm(total)

    with psycopg.connect(conninfo, autocommit=True) as conn:
        space_id = conn.execute("SELECT id FROM embedding_spaces WHERE name = %s",
                                (space,)).fetchone()[0]
        index = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings' "
                             "AND indexname LIKE %s", (f"%{space_id.hex}%",)).fetchone()
        vectors = conn.execute("SELECT count(*) FROM embeddings WHERE space_id = %s",
                               (space_id,)).fetchone()[0]
        versions = conn.execute("SELECT count(*) FROM artifact_versions").fetchone()[0]
        if vectors >= versions:
            return
        indexdef = None
        if index:
            indexdef = conn.execute("SELECT pg_get_indexdef(%s::regclass)", (index[0],)).fetchone()[0]
            conn.execute(f'DROP INDEX "{index[0]}"')
        conn.execute("INSERT INTO spans (artifact_version_id, start_offset, end_offset, span_type) "
                     "SELECT v.id, 0, v.content_length, 'chunk' FROM artifact_versions v "
                     "WHERE v.content_length > 0 AND NOT EXISTS (SELECT 1 FROM spans s WHERE "
                     "s.artifact_version_id = v.id AND s.span_type = 'chunk')")
        rows = conn.execute(
            "SELECT s.id, v.content FROM spans s JOIN artifact_versions v ON v.id = s.artifact_version_id "
            "WHERE s.span_type = 'chunk' AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE "
            "e.space_id = %s AND e.target_type = 'span' AND e.target_id = s.id)",
            (space_id,)).fetchall()
        started = time.perf_counter()
        with conn.cursor().copy("COPY embeddings (space_id, target_type, target_id, embedding) "
                                "FROM STDIN") as copy:
            for span_id, content in rows:
                copy.write_row((space_id, "span", span_id,
                                "[" + ",".join(f"{x:.5f}" for x in embed(content)) + "]"))
        print(f"  {len(rows)} vectors written in {time.perf_counter() - started:.0f}s",
              file=sys.stderr, flush=True)
        if indexdef:
            started = time.perf_counter()
            # The whole graph in memory (1M x 384 dimensions is about 2 GB): a build that
            # spills is many times slower.
            conn.execute("SET maintenance_work_mem = '4GB'")
            conn.execute("SET max_parallel_maintenance_workers = 1")
            conn.execute(indexdef)
            print(f"  HNSW index built in {time.perf_counter() - started:.0f}s",
                  file=sys.stderr, flush=True)
        conn.execute("VACUUM ANALYZE spans, embeddings")


async def measure(base: str, asked: list[str], sources: list[str], modes: list[str]) -> dict:
    results = {}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for mode in modes:
            for scoped in (False, True):
                took = []
                for i, question in enumerate(asked):
                    # The server keeps recent query vectors: the scoped pass asks each
                    # question with a trailing space (same words, cosine 0.998, another
                    # cache key; the model reads one more token), so every hybrid search
                    # here embeds its question.
                    body = {"query": question + (" " if scoped else ""), "limit": 10}
                    if scoped:
                        body["sources"] = [sources[i % len(sources)]]
                    started = time.perf_counter()
                    response = await client.post(f"/api/v1/search/{mode}", json=body)
                    took.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                took = took[5:]  # the first few warm caches
                results[(mode, scoped)] = (statistics.median(took),
                                           sorted(took)[int(0.99 * (len(took) - 1))])
    return results


def explain(conninfo: str, question: str) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from mimir.db.queries import queries

    template = queries.search_text_postings.sql
    with psycopg.connect(conninfo) as conn:
        parsed = conn.execute("SELECT websearch_to_tsquery('english', %s)::text",
                              (question,)).fetchone()[0]
        terms = sorted(set(re.findall(r"'([^']+)'", parsed)))
        sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", template).rstrip().rstrip(";")
        params = {"terms": terms, "idf": [1.0] * len(terms), "avgdl": 20.0, "k1": 1.2, "b": 0.75,
                  "filtered": False, "artifact_kinds": None, "sources": None,
                  "created_after": None, "created_before": None, "excluded": None, "limit": 100,
                  "namespace": "default"}
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params).fetchall()
    return "\n".join(r[0] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--root", type=Path, default=Path("/tmp/mimir-scale"))
    parser.add_argument("--queries", type=int, default=205)
    parser.add_argument("--no-vectors", action="store_true", help="text search only")
    parser.add_argument("--port", type=int, default=38171)
    parser.add_argument("--build-only", action="store_true",
                        help="build the corpus (and vectors) without measuring, e.g. while "
                        "the machine is busy; measure in a later run")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from mimir.db import migrate
    from mimir.db.embedded import EmbeddedPostgres
    from mimir.embeddings.providers import LocalProvider
    from mimir.embeddings.service import default_space_definition

    generator = Bigrams(corpus_texts())
    asked = questions()[: args.queries]
    space = default_space_definition(LocalProvider())
    print("| messages | mode | scope | p50 ms | p99 ms |\n| ---: | --- | --- | ---: | ---: |")
    for n in args.sizes:
        data_dir = args.root / str(n)
        server = EmbeddedPostgres(data_dir)
        conninfo = server.start()
        try:
            migrate.upgrade(conninfo)
            with psycopg.connect(conninfo, autocommit=True) as conn:
                have = conn.execute("SELECT count(*) FROM artifacts WHERE source LIKE 'conv-%%'"
                                    ).fetchone()[0]
            if have < n:
                with_trigger, without = trigger_cost(conninfo, generator)
                print(f"  load rate, 5,000-note sample: {with_trigger:.0f}/s with the postings "
                      f"trigger, {without:.0f}/s without (ratio {with_trigger / without:.2f})",
                      file=sys.stderr, flush=True)
                rate = load_messages(conninfo, n - have, generator)
                print(f"  {n} messages loaded at {rate:.0f}/s (postings included)",
                      file=sys.stderr, flush=True)
            env = {**os.environ, "MIMIR_DATA_DIR": str(data_dir), "MIMIR_PORT": str(args.port),
                   "LOG_LEVEL": "WARNING", "MIMIR_RATE_LIMIT_PER_MINUTE": "0",
                   "MIMIR_WORKER": "off"}
            mimir = subprocess.Popen([str(Path(sys.executable).parent / "mimir"), "serve"], env=env)
            try:
                base = f"http://127.0.0.1:{args.port}"
                for _ in range(240):
                    try:
                        if httpx.get(base + "/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.5)
                sources = [f"conv-{i:05d}" for i in range(0, max(1, n // PER_CONVERSATION), 7)]
                for mode in ["text"] + ([] if args.no_vectors else ["hybrid"]):
                    if mode == "hybrid":
                        load_vectors(conninfo, space.name)
                    if args.build_only:
                        continue
                    results = asyncio.run(measure(base, asked, sources, [mode]))
                    for (_, scoped), (p50, p99) in results.items():
                        print(f"| {n:,} | {mode} | {'one source' if scoped else 'all'} | "
                              f"{p50:.1f} | {p99:.1f} |", flush=True)
            finally:
                mimir.send_signal(signal.SIGTERM)
                mimir.wait(timeout=60)
            if args.build_only:
                continue
            print(f"\nEXPLAIN ANALYZE, postings query, {n:,} messages, "
                  f"question {asked[0]!r}:\n```\n{explain(conninfo, asked[0])}\n```\n", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
