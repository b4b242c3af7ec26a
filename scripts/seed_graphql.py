"""Seed a Mímir database for the GraphQL read benchmark (not for tests).

    MIMIR_DATA_DIR=/tmp/mimir-gql-bench .venv/bin/python scripts/seed_graphql.py

10,000 artifacts x 3 versions x 5 spans by default. Text is made up deterministically
(seeded `random.Random`) from a vocabulary of plausible meeting, planning and engineering
sentences, with a few non-ASCII names so that offsets are code points, not bytes. Version 1
is about 1 KB; every later version appends about 0.4 KB to the one before, as an edited
document would. Each version gets spans over whole sentences (0 <= start < end <= length).
Every `--cite-every`-th artifact also gets an intent whose provenance cites two spans of
its latest version, so `Span.citedBy` is non-empty for a fraction of spans.

Uses DATABASE_URL, or the embedded server in MIMIR_DATA_DIR (started and migrated if
needed). Rows are built in Python (ids too, so reruns with the same --seed give the same
database) and loaded with COPY; versions are copied one version number at a time because
a trigger requires gap-free numbering. Artifacts are dated from 2020-01-01 so that they
come first in the default (oldest first) listing even in a database that holds others.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from mimir.config import load_settings
from mimir.db.lifecycle import prepare_database

SOURCE = "seed-graphql"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
KINDS = ("conversation", "document", "note")

PEOPLE = ["Astrid", "Bjørn", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustavo", "Hélène",
          "Ingrid", "Jamal", "Kenji", "Léa", "Mateus", "Nadia", "Oskar", "Priya", "Quentin",
          "Rosa", "Søren", "Tomás", "Uma", "Viktor", "Wen", "Yusuf", "Zoë"]
TEAMS = ["platform", "billing", "search", "mobile", "data", "support", "security", "growth"]
TOPICS = ["launch plan", "budget review", "migration to PostgreSQL 18", "on-call rotation",
          "pricing page", "search relevance", "onboarding flow", "incident follow-up",
          "API deprecation", "quarterly roadmap", "vendor contract", "hiring plan",
          "data retention policy", "latency regression", "customer interviews",
          "design system", "release checklist", "accessibility audit"]
SUBJECTS = ["We", "The team", "{person}", "{person} and {person2}", "Everyone on the call",
            "The {team} team", "Our customers", "Legal", "Finance", "The on-call engineer"]
VERBS = ["agreed to", "decided to", "want to", "should", "will try to", "proposed to",
         "need to", "promised to", "are not sure whether to", "asked us to"]
ACTIONS = ["ship the {topic} before the end of the month",
           "postpone the {topic} until the next quarter",
           "write a short design note on the {topic}",
           "split the {topic} into two smaller milestones",
           "review the numbers behind the {topic} again",
           "move the {topic} discussion to Thursday",
           "keep the old behaviour behind a feature flag",
           "measure p99 latency before and after the change",
           "ask {person} for a second opinion on the {topic}",
           "drop the requirement that nobody could explain",
           "document every decision in the shared notes",
           "run the migration on a copy of production first",
           "cap the spend at the amount already approved",
           "send a summary to the {team} team by Friday",
           "turn the open questions into tickets",
           "pair with {person} on the first draft"]
REASONS = ["because the last attempt took twice as long as planned",
           "since the {team} team is blocked on it",
           "so that nobody has to guess what was decided",
           "which should cut support tickets by a third",
           "given how little time is left in the quarter",
           "after the incident on Tuesday",
           "as the contract renews in six weeks",
           "because the numbers did not add up",
           "to keep the scope honest"]
ASIDES = ["Nobody objected.", "{person} was not convinced.", "This is still open.",
          "See the notes from last week.", "The café downstairs was closed, again.",
          "Action item for {person}.", "Revisit this once the benchmark numbers are in.",
          "{person} will follow up.", "That settles it for now."]


def _fill(rng: random.Random, template: str) -> str:
    first, second = rng.sample(PEOPLE, 2)
    return template.format(person=first, person2=second, team=rng.choice(TEAMS),
                           topic=rng.choice(TOPICS))


def sentence(rng: random.Random) -> str:
    """One plausible sentence from the vocabulary."""
    if rng.random() < 0.2:
        return _fill(rng, rng.choice(ASIDES))
    text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(ACTIONS)}"
    if rng.random() < 0.6:
        text += " " + rng.choice(REASONS)
    return _fill(rng, text) + "."


def grow(rng: random.Random, kind: str, text: str, target: int) -> str:
    """Append sentences in the style of `kind` until the text is at least `target` long."""
    parts = [text] if text else []
    length = len(text)
    while length < target:
        if kind == "conversation":
            part = f"{rng.choice(PEOPLE)}: {sentence(rng)} {sentence(rng)}\n"
        elif kind == "note":
            part = f"- {sentence(rng)}\n"
        else:
            part = " ".join(sentence(rng) for _ in range(rng.randint(2, 4))) + "\n\n"
        parts.append(part)
        length += len(part)
    return "".join(parts)


def sentence_ranges(text: str) -> list[tuple[int, int]]:
    """[start, end) of each sentence: runs ending at '.', without leading blanks or labels."""
    ranges, start = [], 0
    for i, char in enumerate(text):
        if char == "." and (i + 1 == len(text) or text[i + 1] in " \n"):
            begin = start
            while begin < i and text[begin] in " \n-":
                begin += 1
            colon = text.find(": ", begin, i)
            if colon != -1 and colon - begin < 12:
                begin = colon + 2
            if begin < i:
                ranges.append((begin, i + 1))
            start = i + 1
    return ranges


def new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def build(args: argparse.Namespace):
    """Every row to load, as tuples in COPY column order."""
    rng = random.Random(args.seed)
    artifacts, versions, spans, intents, provenance, evidence = [], [], [], [], [], []
    for i in range(args.artifacts):
        artifact_id, kind = new_id(rng), KINDS[i % len(KINDS)]
        created = EPOCH + timedelta(minutes=i)
        topic = rng.choice(TOPICS)
        metadata = {"project": f"p{i % 50}", "team": rng.choice(TEAMS), "seed": "graphql"}
        artifacts.append((artifact_id, kind, f"{topic.capitalize()} ({kind} {i})", SOURCE,
                          f"gql-{i}", json.dumps(metadata), created))
        content = ""
        for number in range(1, args.versions + 1):
            content = grow(rng, kind, content, args.first_chars if number == 1
                           else len(content) + args.append_chars)
            version_id = new_id(rng)
            versions.append((number, (version_id, artifact_id, number, content,
                                      hashlib.sha256(content.encode()).hexdigest(),
                                      created + timedelta(seconds=number))))
            candidates = sentence_ranges(content)
            chosen = sorted(rng.sample(candidates, min(args.spans, len(candidates))))
            version_spans = []
            for start, end in chosen:
                span_id = new_id(rng)
                version_spans.append(span_id)
                spans.append((span_id, version_id, start, end, rng.choice(
                    ["sentence", "claim", "action_item"]), None, "{}",
                    created + timedelta(seconds=number)))
        if args.cite_every and i % args.cite_every == 0 and len(version_spans) >= 2:
            intent_id, provenance_id = new_id(rng), new_id(rng)
            cited = rng.sample(version_spans, 2)
            statement = content[chosen[0][0]:chosen[0][1]]  # the latest version's first span
            intents.append((intent_id, statement, "proposed", round(rng.uniform(0.5, 1), 2),
                            created + timedelta(seconds=30)))
            provenance.append((provenance_id, "intent", intent_id, "seed-model", "extract-v1",
                               "seed-graphql-1", created + timedelta(seconds=31)))
            evidence += [(provenance_id, span_id, position) for position, span_id in enumerate(cited)]
    return artifacts, versions, spans, intents, provenance, evidence


def copy_rows(conn: psycopg.Connection, statement: str, rows) -> None:
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--spans", type=int, default=5, help="spans per version")
    parser.add_argument("--first-chars", type=int, default=1000, help="length of version 1")
    parser.add_argument("--append-chars", type=int, default=400, help="growth per version")
    parser.add_argument("--cite-every", type=int, default=5,
                        help="every Nth artifact gets an intent citing two spans (0: none)")
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args()

    database = prepare_database(load_settings())
    try:
        with psycopg.connect(database.conninfo, autocommit=True) as conn:
            existing = conn.execute("SELECT count(*) FROM artifacts WHERE source = %s",
                                    (SOURCE,)).fetchone()[0]
            if existing:
                print(f"already seeded: {existing} artifacts from {SOURCE}")
                return
            started = time.perf_counter()
            artifacts, versions, spans, intents, provenance, evidence = build(args)
            built = time.perf_counter()
            with conn.transaction():
                copy_rows(conn, "COPY artifacts (id, artifact_type, title, source, external_id, metadata,"
                          " created_at) FROM STDIN", artifacts)
                for number in range(1, args.versions + 1):  # gap-free numbering, one level at a time
                    copy_rows(conn, "COPY artifact_versions (id, artifact_id, version_number,"
                              " content, content_hash, created_at) FROM STDIN",
                              (row for n, row in versions if n == number))
                copy_rows(conn, "COPY spans (id, artifact_version_id, start_offset, end_offset, span_type,"
                          " label, metadata, created_at) FROM STDIN", spans)
                copy_rows(conn, "COPY intents (id, statement, status, confidence, created_at)"
                          " FROM STDIN", intents)
                copy_rows(conn, "COPY provenance (id, target_type, target_id, model_id,"
                          " prompt_version, pipeline_version, created_at) FROM STDIN", provenance)
                copy_rows(conn, "COPY provenance_evidence (provenance_id, span_id, position)"
                          " FROM STDIN", evidence)
            conn.execute("ANALYZE")
            sizes = conn.execute(
                "SELECT count(*), avg(v.content_length)::int, min(v.content_length),"
                " max(v.content_length) FROM artifact_versions v JOIN artifacts a"
                " ON a.id = v.artifact_id WHERE a.source = %s", (SOURCE,)).fetchone()
            print(f"seeded artifacts={len(artifacts)} versions={sizes[0]} spans={len(spans)} "
                  f"intents={len(intents)} cited spans={len(evidence)}; version length "
                  f"avg={sizes[1]} min={sizes[2]} max={sizes[3]} chars; built in "
                  f"{built - started:.1f}s, loaded in {time.perf_counter() - built:.1f}s")
    finally:
        database.close()


if __name__ == "__main__":
    main()
