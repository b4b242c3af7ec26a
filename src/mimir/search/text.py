"""Full-text search over artifact versions, intents and decisions (PostgreSQL tsearch).

Rules:
- The query is parsed by `websearch_to_tsquery(language, query)`: quoted phrases, `or`,
  `-exclusion`; stop words are dropped. A query with no searchable words (only stop words
  or punctuation) returns no hits and a `notice`.
- `match` chooses the semantics. `auto` (default): a natural-language query (no quotes,
  no `-exclusion`) is a question, not a boolean query: every text matching *any* of its
  words is a candidate, ranked by BM25 (`any`); a query using quotes or `-` keeps
  web-search semantics, every term must match (`all`), and when fewer texts than asked
  for satisfy it, those matching any of its words follow (`all_then_any`). Excluded
  words exclude in every case.
- Ranking is Okapi BM25 (k1 = 1.2, b = 0.75) for english: IDF from the document
  frequencies of the postings table, document length in word occurrences. The latest
  version of each artifact is indexed in `search_postings` (migration 0007) together with
  its context: the artifact's title and the short string values of its metadata (a
  speaker, a date), and, for a short note in a conversation's source, the first words of
  the note stored just before it (migration 0010). `any` over latest versions reads only the query terms' postings, so
  its cost follows the terms, not the collection. Other cases (`all`, older versions,
  another language, intents and decisions) match with the GIN index or an on-the-fly
  vector and score each candidate with the same BM25 (`mimir_bm25`); another language
  without collection statistics ranks with `ts_rank_cd(..., 1|32)`. Scores are BM25
  values (unbounded, higher is better); ties are broken by entity id.
- `language` is a text search configuration (`pg_ts_config`); the default comes from the
  setting `search_language` (MIMIR_SEARCH_LANGUAGE, "english"). Any other language
  computes `to_tsvector(language, content)` on the fly (a sequential scan).
- `latest_only` (default) searches only the newest version of each artifact.
- `artifact_kinds` and `sources` describe artifacts: when given, only artifact versions
  are searched (asking for them together with entity_types that exclude versions is a 422).
- `offset` skips that many hits (paging: offset + limit at most MAX_WINDOW).
- Each hit lists `matches`: the code-point offsets (Python str indices) of every word that
  matches a non-excluded query term, in the full text of the field (`content` of a
  version, `statement` of an intent or decision, `rationale` of a decision), at most
  MAX_MATCHES per hit. They come from `ts_headline(..., HighlightAll=true)` with control
  characters as marks; that is used only when the text minus the marks equals the stored
  text exactly (checked in SQL). Otherwise (e.g. the text contains a word longer than
  PostgreSQL's 2047-character limit, which ts_headline drops, or the mark characters
  themselves) the offsets are computed from the parser's token stream and each one is
  checked against the text before it is returned.
- A version hit's `span` is the passage holding most of its matches: a message span of a
  conversation or a chunk span made for embedding (see search/hits.py).
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import Field

from mimir.db.queries import queries
from mimir.db.session import namespace_of
from mimir.errors import Invalid
from mimir.namespaces import context as namespace_context
from mimir.search.hits import attach_spans
from mimir.search.scope import QueryText, SearchScope
from mimir.validation import StrictModel

DEFAULT_LANGUAGE = "english"
MAX_MATCHES = 50
BM25_K1, BM25_B = 1.2, 0.75
# websearch syntax that makes a query boolean: a quote, or a word excluded with a leading -.
_OPERATORS = re.compile(r'"|(?:^|\s)-\w')
START_MARK, STOP_MARK = "\x01", "\x02"


Match = Literal["auto", "all", "any"]


class TextOptions(StrictModel):
    """The full-text options, shared by text and hybrid search."""

    match: Match = Field(
        default="auto", description="`auto`: a plain question ranks every text matching any "
        "of its words by BM25, a query with quotes or `-excluded` words needs every term; "
        "`all`: every term must match (web-search semantics); `any`: texts matching any "
        "term, ranked by BM25.", examples=["auto"])
    language: str | None = Field(
        default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Text search configuration (a `pg_ts_config` name such as `english`, "
        "`simple`, `german`); default from MIMIR_SEARCH_LANGUAGE. Versions are indexed in "
        "english; another language is computed on the fly (slower).", examples=["english"])


class TextSearchRequest(SearchScope, TextOptions):
    query: QueryText = Field(
        description="A question or words, or web-search syntax: \"quoted phrases\", `or`, "
        "`-excluded`.", examples=["when did we move the weekly sync?"])


# tsquery text output: lexemes are single-quoted, with '' for a quote and \\ for a backslash,
# optionally followed by :* (prefix) and/or weights; operators are ! & | <-> <N> ( ).
_TSQUERY_TOKEN = re.compile(r"'((?:[^'\\]|''|\\.)*)'(?::[*A-Da-d]+)?|!|\(|\)|&|\||<\d*-?>")
_UNESCAPE = re.compile(r"''|\\(.)")


def _lexemes(tsquery: str) -> tuple[list[str], list[str]]:
    """The lexemes of a tsquery (as text) not under a `!` (the words a match should mark)
    and those under one (excluded), each in order, without repeats."""
    positive: list[str] = []
    negative: list[str] = []
    negated_groups: list[bool] = [False]
    pending_not = False
    for token in _TSQUERY_TOKEN.finditer(tsquery):
        text = token.group(0)
        if text == "!":
            pending_not = not pending_not
        elif text == "(":
            negated_groups.append(negated_groups[-1] or pending_not)
            pending_not = False
        elif text == ")":
            if len(negated_groups) > 1:
                negated_groups.pop()
        elif token.group(1) is not None:
            lexeme = _UNESCAPE.sub(lambda m: m.group(1) or "'", token.group(1))
            bucket = negative if (negated_groups[-1] or pending_not) else positive
            if lexeme not in bucket:
                bucket.append(lexeme)
            pending_not = False
    return positive, negative


def resolve_match(match: str, query: str) -> str:
    """`auto` is `all` for a query written with web-search operators, else `any`."""
    if match != "auto":
        return match
    return "all" if _OPERATORS.search(query) else "any"


def or_query(lexemes: list[str]) -> str:
    """A tsquery (as text) matching any of the lexemes, exactly as given."""
    return " | ".join("'" + lex.replace("\\", "\\\\").replace("'", "''") + "'" for lex in lexemes)


async def resolve_language(conn: AsyncConnection, language: str) -> str:
    """The language if it names a visible text search configuration, else a 422."""
    if await queries.search_text_language(conn, language=language) is None:
        allowed = [row["name"] async for row in queries.search_text_languages(conn)]
        raise Invalid(f"unknown text search language {language!r}; allowed: {', '.join(allowed)}",
                      details={"field": "language", "allowed": allowed})
    return language


def _marked_offsets(marked: str) -> list[tuple[int, int, str]]:
    """(start, end, word) of each chr(1)word chr(2) in a marked text whose unmarked form
    equals the original, in original code-point offsets."""
    parts = marked.split(START_MARK)
    position = len(parts[0])
    found = []
    for part in parts[1:]:
        word, _, rest = part.partition(STOP_MARK)
        found.append((position, position + len(word), word))
        position += len(word) + len(rest)
    return found


async def _matches(conn: AsyncConnection, language: str, lexemes: list[str],
                   hits: list[dict[str, Any]]) -> dict[tuple[str, uuid.UUID], list[dict[str, Any]]]:
    """Up to MAX_MATCHES + 1 matches per hit, in field then position order."""
    found: dict[tuple[str, uuid.UUID], list[dict[str, Any]]] = {
        (h["entity_type"], h["entity_id"]): [] for h in hits}
    if not lexemes or not hits:
        return found
    wanted = MAX_MATCHES + 1  # one more than shown, to tell whether the list is cut
    rows = [row async for row in queries.search_text_marks(
        conn, language=language, highlight=or_query(lexemes), max_marks=wanted,
        entity_types=[h["entity_type"] for h in hits],
        entity_ids=[h["entity_id"] for h in hits])]
    rows.sort(key=lambda r: (r["entity_type"], r["entity_id"], r["field"] == "rationale"))
    for row in rows:
        bucket = found[(row["entity_type"], row["entity_id"])]
        if len(bucket) >= wanted:
            continue
        if row["exact"]:
            offsets = _marked_offsets(row["marked"])
        else:
            body = row["body"]
            offsets = [(t["start_offset"], t["end_offset"], t["text"])
                       async for t in queries.search_text_token_matches(
                           conn, language=language, body=body, lexemes=lexemes,
                           max_marks=wanted)]
            # Offsets from the token stream are kept only where they point at the token.
            offsets = [o for o in offsets if body[o[0]:o[1]] == o[2]]
        bucket.extend({"field": row["field"], "start_offset": start, "end_offset": end,
                       "text": text} for start, end, text in offsets[:wanted - len(bucket)])
    return found


class _CommonTermCache:
    """Document frequencies of common terms, kept per process for a short time: counting
    a term found in 50,000 texts takes milliseconds on each query, and for such a term a
    minute-old count changes its IDF by a negligible amount. Rare terms (df below
    COMMON_DF) are always counted, so small collections and tests see exact values.
    Entries are keyed by (namespace, term): each namespace has its own statistics, and a
    count made in one must never rank, or reveal anything about, another's texts."""

    COMMON_DF = 1000
    TTL_S = 60.0
    MAX_TERMS = 50_000

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def get(self, term: tuple[str, str], now: float) -> int | None:
        entry = self._entries.get(term)
        if entry is None or now - entry[0] > self.TTL_S:
            return None
        self._entries.move_to_end(term)
        return entry[1]

    def put(self, term: tuple[str, str], df: int, now: float) -> None:
        if df < self.COMMON_DF:
            return
        self._entries[term] = (now, df)
        self._entries.move_to_end(term)
        while len(self._entries) > self.MAX_TERMS:
            self._entries.popitem(last=False)


_COMMON_TERMS = _CommonTermCache()


def _cache_namespace(conn: AsyncConnection) -> str:
    """The namespace the connection reads in (what row-level security shows it), else the
    one in force in this context."""
    space = namespace_of(conn)
    return space if space is not None else (namespace_context.current() or "")


async def _bm25_stats(conn: AsyncConnection, language: str, lexemes: list[str]
                      ) -> tuple[list[str] | None, list[float] | None, float | None]:
    """BM25 needs collection statistics; they come from the english postings, so other
    languages (and queries with no positive term) rank with ts_rank_cd instead."""
    terms = list(dict.fromkeys(lexemes))
    if language != DEFAULT_LANGUAGE or not terms:
        return None, None, None
    now = time.monotonic()
    space = _cache_namespace(conn)
    known = {t: df for t in terms if (df := _COMMON_TERMS.get((space, t), now)) is not None}
    counted = [t for t in terms if t not in known]
    stats = await queries.search_text_term_stats(conn, terms=counted)
    for term, df in zip(counted, stats["df"], strict=True):
        known[term] = df
        _COMMON_TERMS.put((space, term), df, now)
    n = max(stats["n"], 1)
    idf = [math.log(1 + (n - min(known[t], n) + 0.5) / (known[t] + 0.5)) for t in terms]
    return terms, idf, stats["avgdl"] or 1.0


def _any_query(positive: list[str], negative: list[str]) -> str:
    """Texts with any positive lexeme and none of the negative ones."""
    query = "(" + or_query(positive) + ")"
    if negative:
        query += " & !(" + or_query(negative) + ")"
    return query


async def _postings_hits(conn: AsyncConnection, data: TextSearchRequest, terms: list[str],
                         idf: list[float], avgdl: float, negative: list[str], highlight: str,
                         window: int, snippets: bool) -> list[dict[str, Any]]:
    """The best latest versions by BM25 from the postings, with details (and snippets)."""
    filtered = bool(data.artifact_kinds or data.sources or data.created_after
                    or data.created_before)
    ranked = [row async for row in queries.search_text_postings(
        conn, terms=terms, idf=idf, avgdl=avgdl, k1=BM25_K1, b=BM25_B, filtered=filtered,
        artifact_kinds=[k.value for k in data.artifact_kinds] if data.artifact_kinds else None,
        sources=data.sources, created_after=data.created_after,
        created_before=data.created_before, excluded=negative or None, limit=window)]
    if not ranked:
        return []
    scores = {row["entity_id"]: row["score"] for row in ranked}
    hits = [row async for row in queries.search_text_version_hits(
        conn, ids=list(scores), highlight=highlight, snippets=snippets)]
    for hit in hits:
        hit["score"] = float(scores[hit["entity_id"]])
    return hits


@dataclass(frozen=True)
class _Parsed:
    """A query as searched: its language, tsquery, words and BM25 statistics."""

    language: str
    tsquery: str
    lexemes: list[str]
    negative: list[str]
    terms: list[str] | None
    idf: list[float] | None
    avgdl: float | None


async def rank_text(conn: AsyncConnection, data: TextSearchRequest, *,
                    default_language: str = DEFAULT_LANGUAGE,
                    snippets: bool = True) -> dict[str, Any]:
    """The ranked hits of `offset` to `offset + limit` (with snippets if asked), and what
    `decorate` needs: the language and the positive lexemes (`_lexemes`).

    `auto` with operators ranks the texts that satisfy the whole query first; when they
    are fewer than asked for, the texts matching any of its words (still without the
    excluded ones) follow, so a question that quotes a phrase still finds the answer that
    words it differently."""
    match = resolve_match(data.match, data.query)
    # Optional filters are written `:x IS NULL OR col = ANY(:x)`: only a plan made for the
    # actual values drops the unused ones and reaches for the source or time index (a
    # generic plan of a prepared statement scans every version to build the scope).
    async with conn.transaction():
        await queries.search_text_force_custom_plans(conn)
        language = await resolve_language(conn, data.language or default_language)
        tsquery = (await queries.search_text_parse(conn, language=language,
                                                   query=data.query))["tsquery"]
        body: dict[str, Any] = {"hits": [], "query": data.query, "language": language,
                                "tsquery": tsquery, "match": match, "notice": None,
                                "_lexemes": []}
        if not tsquery:
            body["notice"] = ("the query has no searchable words (only stop words or "
                              f"punctuation for language {language!r}); nothing was searched")
            return body
        lexemes, negative = _lexemes(tsquery)
        body["_lexemes"] = lexemes
        if not lexemes:
            body["notice"] = ("the query only excludes words: hits are the texts without "
                              "them, unranked and without matches")
        parsed = _Parsed(language, tsquery, lexemes, negative,
                         *await _bm25_stats(conn, language, lexemes))
        window = data.offset + data.limit
        relax = data.match == "auto" and match == "all" and bool(lexemes)
        hits = await _ranked(conn, data, parsed, match, snippets, window)
        if relax and len(hits) < window:
            seen = {(h["entity_type"], h["entity_id"]) for h in hits}
            hits += [h for h in await _ranked(conn, data, parsed, "any", snippets, window)
                     if (h["entity_type"], h["entity_id"]) not in seen]
            body["match"] = "all_then_any"
    body["hits"] = hits[data.offset:window]
    for rank, hit in enumerate(body["hits"], start=data.offset + 1):
        hit["rank"] = rank
    return body


async def _ranked(conn: AsyncConnection, data: TextSearchRequest, parsed: _Parsed, match: str,
                  snippets: bool, window: int) -> list[dict[str, Any]]:
    """The best `window` hits under `match` semantics, best first."""
    tsquery = (_any_query(parsed.lexemes, parsed.negative)
               if match == "any" and parsed.lexemes else parsed.tsquery)
    highlight = or_query(parsed.lexemes)
    entity_types = [t.value for t in data.entity_types]
    hits: list[dict[str, Any]] = []
    if (match == "any" and parsed.terms is not None and data.latest_only
            and "artifact_version" in entity_types):
        # Latest versions from the postings; intents and decisions the usual way.
        hits = await _postings_hits(conn, data, parsed.terms, parsed.idf, parsed.avgdl,
                                    parsed.negative, highlight, window, snippets)
        entity_types.remove("artifact_version")
    if entity_types:
        hits += [row async for row in queries.search_text_rank(
            conn, language=parsed.language, tsquery=tsquery, highlight=highlight,
            terms=parsed.terms, idf=parsed.idf, avgdl=parsed.avgdl, entity_types=entity_types,
            artifact_kinds=[k.value for k in data.artifact_kinds] if data.artifact_kinds else None,
            sources=data.sources, created_after=data.created_after, snippets=snippets,
            created_before=data.created_before, latest_only=data.latest_only, limit=window)]
    hits.sort(key=lambda h: (-h["score"], str(h["entity_id"]), h["entity_type"]))
    return hits[:window]


async def decorate(conn: AsyncConnection, language: str, lexemes: list[str],
                   hits: list[dict[str, Any]], *, snippets: bool) -> None:
    """Add match offsets (and, if asked, snippets) to text hits."""
    if snippets and hits and lexemes:
        found = {(row["entity_type"], row["entity_id"]): row["snippet"]
                 async for row in queries.search_text_snippets(
                     conn, language=language, highlight=or_query(lexemes),
                     entity_types=[h["entity_type"] for h in hits],
                     entity_ids=[h["entity_id"] for h in hits])}
        for hit in hits:
            hit["snippet"] = found.get((hit["entity_type"], hit["entity_id"]))
    matches = await _matches(conn, language, lexemes, hits)
    for hit in hits:
        found = matches[(hit["entity_type"], hit["entity_id"])]
        hit["matches"] = found[:MAX_MATCHES]
        hit["matches_truncated"] = len(found) > MAX_MATCHES


async def search_text(conn: AsyncConnection, data: TextSearchRequest, *,
                      default_language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Rank, filter and cut the hits; add snippets, exact match offsets and passages."""
    body = await rank_text(conn, data, default_language=default_language)
    await decorate(conn, body["language"], body.pop("_lexemes"), body["hits"], snippets=False)
    await attach_spans(conn, body["hits"])
    return body
