"""Full-text search over artifact versions, intents and decisions (PostgreSQL tsearch).

Rules:
- The query is parsed by `websearch_to_tsquery(language, query)`: quoted phrases, `or`,
  `-exclusion`. A query with no searchable words (only stop words or punctuation) returns
  no hits and a `notice`.
- Ranking is `ts_rank_cd(vector, query, 1|32)`: cover density divided by 1 + log2 of the
  document length, then mapped to [0, 1) by rank / (rank + 1), so a short text or one
  that repeats the terms outranks a long text that mentions them once. Ties are broken by
  entity id, so the order is deterministic.
- `language` is a text search configuration (`pg_ts_config`); the default comes from the
  setting `search_language` (MIMIR_SEARCH_LANGUAGE, "english"). Versions store an english
  `search_vector` with a GIN index; any other language computes `to_tsvector(language,
  content)` on the fly (a sequential scan). Intents and decisions have no stored vector:
  theirs is always computed on the fly.
- `latest_only` (default) searches only the newest version of each artifact.
- `artifact_kinds` and `sources` describe artifacts: when given, only artifact versions
  are searched (asking for them together with entity_types that exclude versions is a 422).
- Each hit lists `matches`: the code-point offsets (Python str indices) of every word that
  matches a non-excluded query term, in the full text of the field (`content` of a
  version, `statement` of an intent or decision, `rationale` of a decision), at most
  MAX_MATCHES per hit. They come from `ts_headline(..., HighlightAll=true)` with control
  characters as marks; that is used only when the text minus the marks equals the stored
  text exactly (checked in SQL). Otherwise (e.g. the text contains a word longer than
  PostgreSQL's 2047-character limit, which ts_headline drops, or the mark characters
  themselves) the offsets are computed from the parser's token stream and each one is
  checked against the text before it is returned.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import Field

from mimir.db.queries import queries
from mimir.errors import Invalid
from mimir.search.scope import QueryText, SearchScope

DEFAULT_LANGUAGE = "english"
MAX_MATCHES = 50
START_MARK, STOP_MARK = "\x01", "\x02"


class TextSearchRequest(SearchScope):
    match: Literal["all", "any"] = Field(
        default="all", description="`all`: every term must match (web-search semantics); "
        "`any`: texts matching any term, ranked (more recall, as in BM25).", examples=["all"])
    query: QueryText = Field(
        description="Web-search syntax: words, \"quoted phrases\", `or`, `-excluded`.",
        examples=['"weekly sync" thursday -cancelled'])
    language: str | None = Field(
        default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Text search configuration (a `pg_ts_config` name such as `english`, "
        "`simple`, `german`); default from MIMIR_SEARCH_LANGUAGE. Versions are indexed in "
        "english; another language is computed on the fly (slower).", examples=["english"])


# tsquery text output: lexemes are single-quoted, with '' for a quote and \\ for a backslash,
# optionally followed by :* (prefix) and/or weights; operators are ! & | <-> <N> ( ).
_TSQUERY_TOKEN = re.compile(r"'((?:[^'\\]|''|\\.)*)'(?::[*A-Da-d]+)?|!|\(|\)|&|\||<\d*-?>")
_UNESCAPE = re.compile(r"''|\\(.)")


def positive_lexemes(tsquery: str) -> list[str]:
    """The lexemes of a tsquery (as text) that are not under a `!`: the words a match
    should mark (an excluded term appears in no hit, or only where the query allows it)."""
    lexemes: list[str] = []
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
            if not (negated_groups[-1] or pending_not):
                lexeme = _UNESCAPE.sub(lambda m: m.group(1) or "'", token.group(1))
                if lexeme not in lexemes:
                    lexemes.append(lexeme)
            pending_not = False
    return lexemes


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


async def _bm25_stats(conn: AsyncConnection, language: str, lexemes: list[str]
                      ) -> tuple[list[str] | None, list[float] | None, float | None]:
    """BM25 needs collection statistics; they come from the stored english vectors, so
    other languages (and queries with no positive term) rank with ts_rank_cd instead."""
    terms = list(dict.fromkeys(lexemes))
    if language != DEFAULT_LANGUAGE or not terms:
        return None, None, None
    stats = await queries.search_text_term_stats(conn, terms=terms)
    n = max(stats["n"], 1)
    idf = [math.log(1 + (n - df + 0.5) / (df + 0.5)) for df in stats["df"]]
    return terms, idf, stats["avgdl"] or 1.0


async def search_text(conn: AsyncConnection, data: TextSearchRequest, *,
                      default_language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Rank, filter and cut the hits; add snippets and exact match offsets."""
    language = await resolve_language(conn, data.language or default_language)
    parsed = (await queries.search_text_parse(conn, language=language, query=data.query))["tsquery"]
    body: dict[str, Any] = {"hits": [], "query": data.query, "language": language,
                            "tsquery": parsed, "notice": None}
    if not parsed:
        body["notice"] = ("the query has no searchable words (only stop words or punctuation "
                          f"for language {language!r}); nothing was searched")
        return body
    lexemes = positive_lexemes(parsed)
    if not lexemes:
        body["notice"] = ("the query only excludes words: hits are the texts without them, "
                          "unranked and without matches")
    # "all" keeps websearch semantics (every term must match); "any" ranks every text that
    # matches at least one term, BM25-style, which hybrid search uses for recall.
    tsquery = or_query(lexemes) if data.match == "any" and lexemes else parsed
    terms, idf, avgdl = await _bm25_stats(conn, language, lexemes)
    hits = [row async for row in queries.search_text_rank(
        conn, language=language, tsquery=tsquery, highlight=or_query(lexemes),
        terms=terms, idf=idf, avgdl=avgdl,
        entity_types=[t.value for t in data.entity_types],
        artifact_kinds=[k.value for k in data.artifact_kinds] if data.artifact_kinds else None,
        sources=data.sources, created_after=data.created_after,
        created_before=data.created_before, latest_only=data.latest_only, limit=data.limit)]
    matches = await _matches(conn, language, lexemes, hits)
    for rank, hit in enumerate(hits, start=1):
        found = matches[(hit["entity_type"], hit["entity_id"])]
        hit["rank"] = rank
        hit["matches"] = found[:MAX_MATCHES]
        hit["matches_truncated"] = len(found) > MAX_MATCHES
    body["hits"] = hits
    return body
