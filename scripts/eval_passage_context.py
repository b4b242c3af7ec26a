"""Would embedding the previous turn with a conversation message help? An offline check on
the chat dev set (docs/search-quality.md, "Conversation context").

    poetry run python scripts/eval_passage_context.py --dump /tmp/chat-e5.jsonl
    poetry run python scripts/eval_passage_context.py --model all-MiniLM-L6-v2-onnx-int8 ...

Embeds every message of scripts/devsets/chat_sessions.json with Mímir's local provider
twice: alone (what the service stores) and after the first 200 characters of the message
before it. Each question is searched within its conversation by exact cosine similarity
(as the service does for a scope this small), and the semantic list is fused with the text
list of an eval_recall.py dump by Mímir's own `fuse` (defaults 0.4 / 0.6). Prints
recall@10 per question type for: alone, with context, and stored vectors mixing the two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from eval_recall import load_chat

from mimir.embeddings.providers import DEFAULT_LOCAL_MODEL, LocalProvider
from mimir.search.hybrid import DEFAULT_TEXT_WEIGHT, fuse

CONTEXT_CHARS = 200


def with_previous(texts: list[str], sources: list[str]) -> list[str]:
    """Each text after the first CONTEXT_CHARS of the one before it in its source."""
    out = []
    for i, text in enumerate(texts):
        if i and sources[i - 1] == sources[i]:
            out.append(texts[i - 1][:CONTEXT_CHARS] + "\n" + text)
        else:
            out.append(text)
    return out


def report(label: str, passages: np.ndarray, queries: np.ndarray, dev, text_legs) -> None:
    ids = [d.external_id for d in dev.docs]
    sources = np.array([d.source for d in dev.docs])
    found: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for qi, question in enumerate(dev.questions):
        sims = passages @ queries[qi]
        order = [i for i in np.argsort(-sims) if sources[i] == question.sources[0]][:100]
        semantic = [{"entity_type": "v", "entity_id": ids[i], "rank": r + 1,
                     "score": float(sims[i])} for r, i in enumerate(order)]
        text = [{"entity_type": "v", "entity_id": h["doc"], "rank": h["rank"],
                 "score": h["score"]} for h in text_legs[question.id] if h["doc"]]
        fused = fuse(text, semantic, k=60, text_weight=DEFAULT_TEXT_WEIGHT,
                     semantic_weight=1 - DEFAULT_TEXT_WEIGHT)
        for mode, hits in (("semantic", semantic), ("hybrid", fused)):
            ranked = [h["entity_id"] for h in hits][:10]
            value = len(set(ranked) & question.relevant) / len(question.relevant)
            found[mode]["all"].append(value)
            found[mode][question.type].append(value)
    for mode, by_type in found.items():
        print(f"| {label} | {mode} | " + " | ".join(
            f"{t} {statistics.mean(v):.3f}" for t, v in sorted(by_type.items())) + " |")


async def run(args: argparse.Namespace, text_legs: dict[str, list[dict]]) -> None:
    dev = load_chat("metadata")
    provider = LocalProvider(args.model)
    texts = [d.content for d in dev.docs]
    sources = [d.source for d in dev.docs]
    queries = np.array([await provider.embed_query(q.text) for q in dev.questions])
    alone = np.array(await provider.embed_passages(texts))
    context = np.array(await provider.embed_passages(with_previous(texts, sources)))
    report("alone", alone, queries, dev, text_legs)
    report("after the previous turn", context, queries, dev, text_legs)
    for share in (0.9, 0.95):
        mixed = share * alone + (1 - share) * context
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        report(f"mixed {share}", mixed, queries, dev, text_legs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump", required=True, help="eval_recall.py chat --dump FILE")
    parser.add_argument("--model", default=DEFAULT_LOCAL_MODEL)
    args = parser.parse_args()
    text_legs = {row["id"]: row["legs"]["text"]
                 for row in map(json.loads, Path(args.dump).read_text().splitlines())}
    asyncio.run(run(args, text_legs))


if __name__ == "__main__":
    main()
