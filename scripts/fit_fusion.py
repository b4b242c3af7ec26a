"""Fit hybrid search's fusion on dev-set dumps (scripts/eval_recall.py --dump).

    poetry run python scripts/fit_fusion.py /tmp/chat.jsonl /tmp/chatgpt.jsonl /tmp/scifact-train.jsonl

Each dump holds, per question, the text list and the semantic list (up to 100 candidates
each, with their scores) as the service returned them. This re-fuses them with Mímir's own
`fuse` (mimir.search.hybrid) for a grid of text weights, for weighted (min-max) fusion and
for RRF, and prints the metric per dump (recall@10 for conversations, nDCG@10 for SciFact)
and the mean over dumps, next to each list alone. Pick weights on dev sets only.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from mimir.search.hybrid import fuse


def metric(ranked: list[str], relevant: set[str], kind: str) -> float:
    if kind == "ndcg":
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
        return dcg / ideal
    return len(set(ranked[:10]) & relevant) / len(relevant)


def as_hits(leg: list[dict]) -> list[dict]:
    return [{"entity_type": "artifact_version", "entity_id": h["doc"], "rank": h["rank"],
             "score": h["score"]} for h in leg if h["doc"] is not None]


def evaluate(rows: list[dict], kind: str, *, fusion: str, text_weight: float,
             text_leg: str) -> float:
    values = []
    for row in rows:
        text = as_hits(row["legs"].get(text_leg, []))
        semantic = as_hits(row["legs"].get("semantic", []))
        fused = fuse(text, semantic, k=60, text_weight=text_weight,
                     semantic_weight=1 - text_weight, fusion=fusion)
        values.append(metric([h["entity_id"] for h in fused], set(row["relevant"]), kind))
    return statistics.mean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dumps", nargs="+", type=Path)
    parser.add_argument("--text-leg", default="text", help="which dumped text list to fuse")
    args = parser.parse_args()
    sets = {}
    for path in args.dumps:
        rows = [json.loads(line) for line in path.open()]
        kind = "ndcg" if "scifact" in path.name else "recall"
        sets[path.stem] = (rows, kind)
    grid = [round(0.1 * i, 1) for i in range(11)]
    names = list(sets)
    print("| fusion | text weight | " + " | ".join(names) + " | mean |")
    print("| --- | ---: | " + " | ".join("---:" for _ in names) + " | ---: |")
    for fusion in ("weighted", "rrf"):
        for weight in grid:
            cells = [evaluate(rows, kind, fusion=fusion, text_weight=weight,
                              text_leg=args.text_leg) for rows, kind in sets.values()]
            print(f"| {fusion} | {weight} | " + " | ".join(f"{c:.3f}" for c in cells)
                  + f" | {statistics.mean(cells):.3f} |")


if __name__ == "__main__":
    main()
