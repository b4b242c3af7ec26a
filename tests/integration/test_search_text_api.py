"""Full-text search over REST: ranking, latest-only versions, filters, web-search syntax,
exact code-point match offsets (also through the token-stream fallback), stop-word
queries, languages, bad input, intents and decisions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.factories import append_version, make_artifact

URL = "/api/v1/search/text"


@pytest.fixture
async def client(app) -> Any:
    """The shared client, on an app that has the search router (until app.py includes it)."""
    from mimir.search.rest import router

    if not any(getattr(route, "path", None) == URL for route in app.routes):
        app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mimir.test") as http:
        yield http


async def search(client: httpx.AsyncClient, query: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(URL, json={"query": query, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def make_intent(client: httpx.AsyncClient, statement: str) -> dict[str, Any]:
    response = await client.post("/api/v1/intents", json={"statement": statement})
    assert response.status_code == 201, response.text
    return response.json()


async def make_decision(client: httpx.AsyncClient, statement: str,
                        rationale: str | None = None) -> dict[str, Any]:
    response = await client.post("/api/v1/decisions",
                                 json={"statement": statement, "rationale": rationale})
    assert response.status_code == 201, response.text
    return response.json()


def version_id(artifact: dict[str, Any]) -> str:
    return artifact["versions"][0]["id"]


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["entity_id"] for hit in body["hits"]]


class TestRanking:
    async def test_repeated_term_and_short_text_rank_above_one_mention_in_long_text(self, client):
        """A short text and a text with the term twice outrank a long text mentioning it once."""
        filler = " ".join(f"filler{n} words about other topics" for n in range(60))
        long_once = await make_artifact(client, content=f"{filler} the glacier melted {filler}")
        twice = await make_artifact(client, content=f"{filler} glacier and glacier again")
        short = await make_artifact(client, content="A glacier.")
        body = await search(client, "glacier")
        assert ids(body) == [version_id(short), version_id(twice), version_id(long_once)]
        scores = [hit["score"] for hit in body["hits"]]
        assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1] > 0
        assert [hit["rank"] for hit in body["hits"]] == [1, 2, 3]

    async def test_ties_are_broken_by_id_and_limit_cuts(self, client):
        """Equal scores come in id order, and `limit` keeps the best ones."""
        made = [await make_artifact(client, content="same words about comets") for _ in range(4)]
        body = await search(client, "comets")
        expected = sorted(version_id(a) for a in made)
        assert ids(body) == expected
        assert ids(await search(client, "comets", limit=2)) == expected[:2]

    async def test_hit_fields_and_snippet(self, client):
        """A version hit names its artifact, version, kind and title, with a «marked» snippet."""
        artifact = await make_artifact(client, kind="document", title="Field notes",
                                       content="Notes: the aurora was bright tonight.")
        [hit] = (await search(client, "aurora"))["hits"]
        assert hit["entity_type"] == "artifact_version"
        assert hit["entity_id"] == version_id(artifact)
        assert (hit["artifact_id"], hit["version_number"]) == (artifact["id"], 1)
        assert (hit["artifact_kind"], hit["title"]) == ("document", "Field notes")
        assert "«aurora»" in hit["snippet"]
        assert hit["matches_truncated"] is False


class TestVersions:
    async def test_latest_only_by_default_all_versions_on_request(self, client):
        """By default only the newest version of an artifact is searched; latest_only=false
        finds older versions too."""
        artifact = await make_artifact(client, content="draft mentions the volcano")
        newer = await append_version(client, artifact_id=artifact["id"],
                                     content="final mentions the volcano twice: volcano")
        third = await append_version(client, artifact_id=artifact["id"], content="no match here")
        assert ids(await search(client, "volcano")) == []
        all_versions = await search(client, "volcano", latest_only=False)
        assert ids(all_versions) == [newer["id"], version_id(artifact)]
        assert [hit["version_number"] for hit in all_versions["hits"]] == [2, 1]
        assert third["version_number"] == 3
        await append_version(client, artifact_id=artifact["id"], content="the volcano is back")
        [hit] = (await search(client, "volcano"))["hits"]
        assert hit["version_number"] == 4


class TestFilters:
    async def test_entity_types(self, client):
        """entity_types limits the search to the listed kinds of entity."""
        version = await make_artifact(client, content="the lighthouse keeper")
        intent = await make_intent(client, "Repaint the lighthouse")
        decision = await make_decision(client, "Keep the lighthouse lit")
        everything = await search(client, "lighthouse")
        assert sorted(ids(everything)) == sorted([version_id(version), intent["id"], decision["id"]])
        only = await search(client, "lighthouse", entity_types=["intent", "decision"])
        assert sorted(ids(only)) == sorted([intent["id"], decision["id"]])
        assert {h["entity_type"] for h in only["hits"]} == {"intent", "decision"}

    async def test_artifact_kinds_and_sources(self, client):
        """artifact_kinds and sources keep versions of matching artifacts, and leave out
        intents and decisions, which have neither."""
        note = await make_artifact(client, kind="note", source="slack", content="meteor shower")
        doc = await make_artifact(client, kind="document", source="drive", content="meteor report")
        chat = await make_artifact(client, kind="conversation", source="slack",
                                   content="meteor chat")
        await make_intent(client, "Watch the meteor shower")
        kinds = await search(client, "meteor", artifact_kinds=["note", "document"])
        assert sorted(ids(kinds)) == sorted([version_id(note), version_id(doc)])
        sources = await search(client, "meteor", sources=["slack"])
        assert sorted(ids(sources)) == sorted([version_id(note), version_id(chat)])
        both = await search(client, "meteor", sources=["slack"], artifact_kinds=["conversation"])
        assert ids(both) == [version_id(chat)]

    async def test_time_range(self, client):
        """created_after is inclusive, created_before exclusive, on each entity's created_at."""
        first = await make_artifact(client, content="tornado one")
        second = await make_artifact(client, content="tornado two")
        intent = await make_intent(client, "Track the tornado")
        t_second = second["versions"][0]["created_at"]
        after = await search(client, "tornado", created_after=t_second)
        assert sorted(ids(after)) == sorted([version_id(second), intent["id"]])
        before = await search(client, "tornado", created_before=t_second)
        assert ids(before) == [version_id(first)]
        later = (datetime.fromisoformat(intent["created_at"]) + timedelta(seconds=1)).isoformat()
        assert ids(await search(client, "tornado", created_after=later)) == []


class TestSyntax:
    async def test_quoted_phrase(self, client):
        """A quoted phrase matches only texts with the words adjacent and in order (`all`;
        by default those come first and texts with any of the words follow)."""
        adjacent = await make_artifact(client, content="we saw a red fox today")
        apart = await make_artifact(client, content="the fox was not red at all")
        assert ids(await search(client, '"red fox"', match="all")) == [version_id(adjacent)]
        assert ids(await search(client, '"red fox"')) == [version_id(adjacent), version_id(apart)]
        assert sorted(ids(await search(client, "red fox"))) == sorted(
            [version_id(adjacent), version_id(apart)])

    async def test_exclusion_and_or(self, client):
        """`-word` excludes texts with it; `or` accepts either word; excluded words are never
        listed as matches."""
        apples = await make_artifact(client, content="apples only")
        both = await make_artifact(client, content="apples and pears")
        pears = await make_artifact(client, content="pears only")
        assert ids(await search(client, "apples -pears")) == [version_id(apples)]
        either = await search(client, "apples or pears")
        assert sorted(ids(either)) == sorted([version_id(a) for a in (apples, both, pears)])
        only_excluding = await search(client, "-apples")
        assert ids(only_excluding) == [version_id(pears)]
        assert only_excluding["notice"] and only_excluding["hits"][0]["matches"] == []
        assert only_excluding["hits"][0]["snippet"] == "pears only"
        mixed = await search(client, "apples or -pears")
        assert version_id(pears) not in ids(mixed)
        for hit in mixed["hits"]:
            assert {m["text"].lower() for m in hit["matches"]} <= {"apples"}

    async def test_odd_syntax_never_fails(self, client):
        """Operators, quotes and symbols in any arrangement are searched or noticed, never
        an error."""
        await make_artifact(client, content="it's a back\\slash and a 'quote' 👋 with a:b")
        for query in ["'", '"unclosed', "a & | ! <-> b", ":*", "\\", "((", "-", "or or",
                      '"" -""', "👋", "it's", "a:b", "back\\slash", "-- drop", "!x"]:
            response = await client.post(URL, json={"query": query})
            assert response.status_code == 200, (query, response.text)

    async def test_stop_words_only(self, client):
        """A query of stop words has nothing to search: 200, no hits, a notice."""
        await make_artifact(client, content="the and of")
        body = await search(client, "the and of")
        assert body["hits"] == [] and body["tsquery"] == ""
        assert "stop words" in body["notice"]
        assert (await search(client, "and"))["notice"]


class TestMatches:
    async def test_offsets_are_code_points_after_emoji_and_accents(self, client):
        """Offsets count code points (Python str indices) even after emoji, accents and
        combining marks, and cover stemmed variants of the query word."""
        content = "Café 👋🏽 naïve — e\u0301te\u0301: Running runs ran; the runner RUNS! 🏃‍♀️ running"
        artifact = await make_artifact(client, content=content)
        [hit] = (await search(client, "run"))["hits"]
        assert hit["entity_id"] == version_id(artifact)
        texts = [content[m["start_offset"]:m["end_offset"]] for m in hit["matches"]]
        assert texts == [m["text"] for m in hit["matches"]]
        assert texts == ["Running", "runs", "RUNS", "running"]
        assert {m["field"] for m in hit["matches"]} == {"content"}
        starts = [m["start_offset"] for m in hit["matches"]]
        assert starts == sorted(starts)
        assert hit["matches"][0]["start_offset"] == content.index("Running")

    async def test_offsets_make_valid_spans(self, client):
        """A match's offsets can be posted as a span whose text is the matched word."""
        content = "🎉 Überraschung! The naïve café hosted a celebration."
        artifact = await make_artifact(client, content=content)
        [hit] = (await search(client, "celebrate"))["hits"]
        [match] = hit["matches"]
        assert match["text"] == "celebration"
        response = await client.post("/api/v1/spans", json={
            "version_id": hit["entity_id"], "start_offset": match["start_offset"],
            "end_offset": match["end_offset"]})
        assert response.status_code == 201, response.text
        assert content[match["start_offset"]:match["end_offset"]] == "celebration"
        assert artifact["id"] == hit["artifact_id"]

    async def test_fallback_when_headline_does_not_reproduce_the_text(self, client):
        """Text ts_headline alters (a word over 2047 characters, the mark characters) still
        gets exact offsets, from the token stream."""
        content = ("x" * 3000 + " 👋 the river runs \x01 into the River\x02 delta, rivers")
        await make_artifact(client, content=content)
        [hit] = (await search(client, "river"))["hits"]
        texts = [content[m["start_offset"]:m["end_offset"]] for m in hit["matches"]]
        assert texts == [m["text"] for m in hit["matches"]] == ["river", "River", "rivers"]

    async def test_matches_are_capped(self, client):
        """At most 50 matches per hit, flagged as truncated."""
        content = " ".join(["dune"] * 70)
        await make_artifact(client, content=content)
        [hit] = (await search(client, "dune"))["hits"]
        assert len(hit["matches"]) == 50 and hit["matches_truncated"] is True
        assert hit["matches"][-1]["start_offset"] == 49 * 5

    async def test_long_text_offsets(self, client):
        """Offsets stay exact deep into a long text with multi-byte characters."""
        chunk = "Ünïcödé 😀 filler text, "
        content = chunk * 2000 + "the quasar shines " + chunk * 10 + "quasars"
        await make_artifact(client, content=content)
        [hit] = (await search(client, "quasar"))["hits"]
        assert [(m["start_offset"], m["text"]) for m in hit["matches"]] == [
            (content.index("quasar"), "quasar"), (content.rindex("quasars"), "quasars")]


class TestIntentsAndDecisions:
    async def test_intent_found_with_offsets_in_statement(self, client):
        """Intents are searched by statement; offsets point into the statement."""
        statement = "Move the weekly 🗓️ synchronisation meeting to Thursdays"
        intent = await make_intent(client, statement)
        [hit] = (await search(client, "meetings"))["hits"]
        assert (hit["entity_type"], hit["entity_id"]) == ("intent", intent["id"])
        assert hit["artifact_id"] is None and hit["version_number"] is None
        [match] = hit["matches"]
        assert match["field"] == "statement"
        assert statement[match["start_offset"]:match["end_offset"]] == "meeting"

    async def test_decision_found_by_statement_and_rationale(self, client):
        """Decisions are searched by statement and rationale; matches name their field."""
        statement = "Use PostgreSQL for the queue"
        rationale = "One database to operate; the queue stays transactional"
        decision = await make_decision(client, statement, rationale)
        by_rationale = await search(client, "transactional")
        [hit] = by_rationale["hits"]
        assert (hit["entity_type"], hit["entity_id"]) == ("decision", decision["id"])
        assert [(m["field"], m["text"]) for m in hit["matches"]] == [("rationale", "transactional")]
        assert "«transactional»" in hit["snippet"]
        [hit] = (await search(client, "queue"))["hits"]
        assert [(m["field"], m["start_offset"]) for m in hit["matches"]] == [
            ("statement", statement.index("queue")), ("rationale", rationale.index("queue"))]


class TestLanguage:
    async def test_other_language_computed_on_the_fly(self, client):
        """language=german stems German words; the english default does not."""
        artifact = await make_artifact(client, content="Die Häuser stehen am Fluss")
        assert ids(await search(client, "Haus")) == []
        german = await search(client, "Haus", language="german")
        assert german["language"] == "german"
        assert ids(german) == [version_id(artifact)]
        assert german["hits"][0]["matches"][0]["text"] == "Häuser"

    async def test_default_language_comes_from_settings(self, app, client):
        """The setting search_language is the default language."""
        await make_artifact(client, content="the running man")
        assert (await search(client, "the"))["language"] == "english"
        app.state.settings = app.state.settings.model_copy(update={"search_language": "simple"})
        body = await search(client, "the")
        assert body["language"] == "simple"
        assert len(body["hits"]) == 1


BAD_PAYLOADS = [
    {"query": ""},
    {"query": "   "},
    {"query": "x" * 1001},
    {"query": "nul \x00 inside"},
    {"query": "x", "language": "klingon"},
    {"query": "x", "language": "English; DROP"},
    {"query": "x", "limit": 0},
    {"query": "x", "limit": 101},
    {"query": "x", "limit": "many"},
    {"query": "x", "entity_types": ["span"]},
    {"query": "x", "entity_types": []},
    {"query": "x", "artifact_kinds": ["poem"]},
    {"query": "x", "created_after": "2026-01-01T00:00:00"},
    {"query": "x", "created_after": "2026-02-01T00:00:00Z",
     "created_before": "2026-01-01T00:00:00Z"},
    {"query": "x", "sources": ["slack"], "entity_types": ["intent"]},
    {"query": "x", "unknown": 1},
    {},
]


class TestBadInput:
    async def test_bad_input_is_422(self, client):
        """Empty, blank, over-long or NUL queries, unknown languages, bad limits, unknown
        entity types or kinds, naive or inverted times and contradictory filters are 422."""
        for payload in BAD_PAYLOADS:
            response = await client.post(URL, json=payload)
            assert response.status_code == 422, (payload, response.text)
            assert response.json()["error"]["code"] == "invalid", payload

    async def test_unknown_language_lists_allowed(self, client):
        """An unknown language's 422 names the allowed configurations."""
        response = await client.post(URL, json={"query": "x", "language": "klingon"})
        assert "klingon" in response.json()["error"]["message"]
        assert "english" in response.json()["error"]["details"]["allowed"]

    async def test_query_at_maximum_length_is_accepted(self, client):
        """A 1000-character query is accepted."""
        assert (await search(client, "word " * 199 + "word"))["hits"] == []


def test_stored_vector_is_english(db_conninfo):
    """The stored search_vector that the english search uses is to_tsvector('english', ...)."""
    with psycopg.connect(db_conninfo) as conn:
        expression = conn.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
            "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = 'artifact_versions'::regclass AND a.attname = 'search_vector'"
        ).fetchone()[0]
    assert "'english'" in expression
