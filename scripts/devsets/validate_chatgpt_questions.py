#!/usr/bin/env python3
"""Validate the ChatGPT-export retrieval dev set (chatgpt_questions.jsonl).

Checks: ids unique, known types, non-empty questions, every evidence id is a
node of the export whose message is from the user or assistant and has
non-empty text, conversation_id matches the evidence (null only when the
evidence spans several conversations), multi has 2-3 evidence ids, `when`
evidence has a timestamp. Prints counts per type and conversations covered.

Data: $MIMIR_SHARED_DATA/chatgpt-export/conversations.json
(MIMIR_SHARED_DATA defaults to /work/shared/data).
Usage: python validate_chatgpt_questions.py [questions.jsonl]
Exits non-zero on any problem.
"""
import collections
import json
import os
import sys
from pathlib import Path

TYPES = ("single", "when", "multi", "paraphrase")
MIN_QUESTIONS = 160
MIN_CONVERSATIONS = 60


def message_text(message):
    parts = (message.get("content") or {}).get("parts") or []
    return "\n".join(p for p in parts if isinstance(p, str)).strip()


def main():
    data_root = Path(os.environ.get("MIMIR_SHARED_DATA", "/work/shared/data"))
    export = data_root / "chatgpt-export" / "conversations.json"
    qfile = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("chatgpt_questions.jsonl")

    conversations = json.loads(export.read_text(encoding="utf-8"))
    nodes = {}  # node id -> (conversation id, message)
    for conv in conversations:
        for node_id, node in conv["mapping"].items():
            nodes[node_id] = (conv["id"], node.get("message"))

    problems = []
    seen_ids = set()
    types = collections.Counter()
    covered = set()
    n = 0
    for lineno, line in enumerate(qfile.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        n += 1
        where = f"line {lineno}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc})")
            continue
        qid = q.get("id")
        where = f"line {lineno} ({qid})"
        if not qid or qid in seen_ids:
            problems.append(f"{where}: missing or duplicate id")
        seen_ids.add(qid)
        qtype = q.get("type")
        if qtype not in TYPES:
            problems.append(f"{where}: unknown type {qtype!r}")
        types[qtype] += 1
        if not str(q.get("question", "")).strip():
            problems.append(f"{where}: empty question")
        evidence = q.get("evidence")
        if not isinstance(evidence, list) or not evidence:
            problems.append(f"{where}: evidence must be a non-empty list")
            continue
        if len(set(evidence)) != len(evidence):
            problems.append(f"{where}: duplicate evidence ids")
        if qtype == "multi" and not 2 <= len(evidence) <= 3:
            problems.append(f"{where}: multi needs 2-3 evidence ids, has {len(evidence)}")
        ev_convs = set()
        for ev in evidence:
            if ev not in nodes:
                problems.append(f"{where}: evidence {ev} not in export")
                continue
            conv_id, msg = nodes[ev]
            ev_convs.add(conv_id)
            if not msg or msg.get("id") != ev:
                problems.append(f"{where}: evidence {ev} has no message (or id mismatch)")
                continue
            role = (msg.get("author") or {}).get("role")
            if role not in ("user", "assistant"):
                problems.append(f"{where}: evidence {ev} has role {role!r}")
            if not message_text(msg):
                problems.append(f"{where}: evidence {ev} has empty text")
            if qtype == "when" and not msg.get("create_time"):
                problems.append(f"{where}: when-evidence {ev} has no create_time")
        covered |= ev_convs
        cid = q.get("conversation_id")
        if cid is None:
            if len(ev_convs) < 2:
                problems.append(f"{where}: conversation_id is null but evidence is in one conversation")
        elif ev_convs != {cid}:
            problems.append(f"{where}: conversation_id {cid} does not match evidence conversations")

    if n < MIN_QUESTIONS:
        problems.append(f"only {n} questions (< {MIN_QUESTIONS})")
    if len(covered) < MIN_CONVERSATIONS:
        problems.append(f"only {len(covered)} conversations covered (< {MIN_CONVERSATIONS})")

    print(f"questions: {n}")
    print("types: " + ", ".join(f"{t}={types.get(t, 0)}" for t in TYPES))
    print(f"conversations covered: {len(covered)} of {len(conversations)}")
    if problems:
        print(f"FAILED: {len(problems)} problem(s)")
        for p in problems:
            print("  " + p)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
