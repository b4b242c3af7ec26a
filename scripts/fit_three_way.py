"""Three-way fusion on SciFact train dumps: BM25 + e5 + MiniLM (issue 14 experiment).

    poetry run python scripts/fit_three_way.py TRAIN_E5.jsonl TRAIN_MINILM.jsonl

Both dumps come from `scripts/eval_recall.py scifact-train --dump FILE`, one with each
model (`--model all-MiniLM-L6-v2-onnx-int8` for the second). Each list is min-max
normalised per question and summed with weights (text, e5, MiniLM); nDCG@10 is printed
for a grid. Train queries only: never fit on the test queries.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path


def ndcg(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    return dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))


def normalised(leg: list[dict]) -> dict[str, float]:
    scores = [h["score"] for h in leg]
    if not scores:
        return {}
    low, high = min(scores), max(scores)
    return {h["doc"]: (h["score"] - low) / (high - low) if high > low else 1.0 for h in leg}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("e5", type=Path)
    parser.add_argument("minilm", type=Path)
    args = parser.parse_args()
    e5 = {r["id"]: r for r in map(json.loads, args.e5.open())}
    minilm = {r["id"]: r for r in map(json.loads, args.minilm.open())}
    print("| text | e5 | MiniLM | nDCG@10 |\n| ---: | ---: | ---: | ---: |")
    for wt in (0.3, 0.4, 0.5):
        for we in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6):
            wm = round(1 - wt - we, 2)
            if wm < 0:
                continue
            values = []
            for qid, row in e5.items():
                legs = (normalised(row["legs"]["text"]), normalised(row["legs"]["semantic"]),
                        normalised(minilm[qid]["legs"]["semantic"]))
                docs = set().union(*legs)
                score = {d: wt * legs[0].get(d, 0) + we * legs[1].get(d, 0)
                         + wm * legs[2].get(d, 0) for d in docs}
                values.append(ndcg(sorted(docs, key=lambda d: -score[d]), set(row["relevant"])))
            print(f"| {wt} | {we} | {wm} | {statistics.mean(values):.4f} |")


if __name__ == "__main__":
    main()
