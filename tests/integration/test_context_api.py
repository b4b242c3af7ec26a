"""POST /api/v1/context and GraphQL `context` end to end: real database, real ASGI app.
Every citation is checked against the stored version; the budget is re-counted with the
same tokenizer, loaded independently here."""

from __future__ import annotations

import psycopg
import pytest
from tokenizers import Tokenizer

from mimir.config import Settings
from mimir.embeddings.providers import _minilm_tokenizer_path
from tests.factories import make_artifact, make_span

URL = "/api/v1/context"
NOTE = ("Opening remarks about the weather. The kiwi harvest starts in May this year. "
        "Kiwi prices usually fall in June after the harvest. Unrelated closing words here. "
        "A last kiwi remark at the very end.")


def count_tokens(text: str) -> int:
    tokenizer = Tokenizer.from_file(_minilm_tokenizer_path())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def version_content(conninfo: str, version_id: str) -> str:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT content FROM artifact_versions WHERE id = %s",
                            (version_id,)).fetchone()[0]


def span_range(conninfo: str, span_id: str) -> tuple[str, int, int]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT artifact_version_id::text, start_offset, end_offset "
                            "FROM spans WHERE id = %s", (span_id,)).fetchone()


def check_citations(body: dict, conninfo: str) -> None:
    """Offsets slice the stored version to exactly the quoted text; span ids lie inside
    their piece (equal to it when `span_id` is set); the text is the pieces under their
    markers; the budget holds, counted again."""
    for piece in body["pieces"]:
        if piece["entity_type"] == "artifact_version":
            content = version_content(conninfo, piece["version_id"])
            assert content[piece["start_offset"]:piece["end_offset"]] == piece["text"]
            for span_id in piece["span_ids"]:
                version, start, end = span_range(conninfo, span_id)
                assert version == piece["version_id"]
                assert piece["start_offset"] <= start and (
                    end <= piece["end_offset"] or piece["truncated"])
            if piece["span_id"]:
                assert span_range(conninfo, piece["span_id"])[1:] == (
                    piece["start_offset"], piece["end_offset"])
        assert f"{piece['marker']}\n{piece['text']}" in body["text"]
    assert body["text"] == "\n\n".join(f"{p['marker']}\n{p['text']}" for p in body["pieces"])
    assert body["tokens_used"] == count_tokens(body["text"]) <= body["budget"]


async def post(client, **fields):
    response = await client.post(URL, json=fields)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def kiwi(client):
    """A note with two overlapping message spans and a third apart (each holding `kiwi`),
    a decision superseded by a current one, and intents accepted, proposed and rejected."""
    note = await make_artifact(client, content=NOTE, title="Kiwi notes", source="farm")
    first = NOTE.index("The kiwi")
    second = NOTE.index("Kiwi prices")
    last = NOTE.index("A last kiwi")
    spans = [await make_span(client, artifact_id=note["id"], version_number=1,
                             start_offset=s, end_offset=e, span_type="message")
             for s, e in ((first, second + 20), (second, NOTE.index("Unrelated")),
                          (last, len(NOTE)))]
    old = (await client.post("/api/v1/decisions", json={
        "statement": "We sell the kiwi harvest at the Friday market"})).json()
    response = await client.patch(f"/api/v1/decisions/{old['id']}", json={
        "supersede_with": {"statement": "We sell the kiwi harvest at the Monday market"}})
    assert response.status_code == 200, response.text
    current = response.json()["current"]["id"]
    intents = {}
    for status in ("accepted", "proposed", "rejected"):
        intent = (await client.post("/api/v1/intents", json={
            "statement": f"Plant more kiwi vines ({status})"})).json()
        if status != "proposed":
            patched = await client.patch(f"/api/v1/intents/{intent['id']}",
                                         json={"status": status})
            assert patched.status_code == 200, patched.text
        intents[status] = intent["id"]
    return {"note": note, "spans": spans, "old": old["id"], "current": current,
            "intents": intents}


class TestPieces:
    async def test_citations_slice_the_stored_versions_exactly(self, client, kiwi, db_conninfo):
        body = await post(client, query="kiwi harvest", budget=2000)
        assert body["pieces"] and body["search_mode"] in ("hybrid", "text")
        assert body["tokenizer"]["exact"] is True
        assert "MiniLM" in body["tokenizer"]["name"]
        check_citations(body, db_conninfo)

    async def test_overlapping_spans_of_a_version_become_one_piece(self, client, kiwi,
                                                                   db_conninfo):
        body = await post(client, query="kiwi", budget=2000, entity_types=["artifact_version"])
        passages = [p for p in body["pieces"] if p["artifact_id"] == kiwi["note"]["id"]]
        first, second, third = (s["id"] for s in kiwi["spans"])
        merged = [p for p in passages if p["merged"]]
        assert len(merged) == 1
        assert set(merged[0]["span_ids"]) == {first, second}
        assert merged[0]["span_id"] is None
        assert merged[0]["start_offset"] == NOTE.index("The kiwi")
        assert merged[0]["end_offset"] == NOTE.index("Unrelated")
        # The span apart stays its own piece, cited by its span id.
        apart = [p for p in passages if not p["merged"]]
        assert [p["span_id"] for p in apart] == [third]
        # No two pieces of one version overlap.
        ranges = sorted((p["start_offset"], p["end_offset"]) for p in passages)
        assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        check_citations(body, db_conninfo)

    async def test_superseded_decisions_are_left_out_for_their_successor(self, client, kiwi):
        body = await post(client, query="Friday market kiwi harvest", budget=2000,
                          entity_types=["decision"])
        ids = [p["entity_id"] for p in body["pieces"]]
        assert kiwi["old"] not in ids
        assert ids.count(kiwi["current"]) == 1
        current = body["pieces"][ids.index(kiwi["current"])]
        assert current["status"] == "active"
        assert current["replaces"] == [kiwi["old"]]
        assert current["text"] == "We sell the kiwi harvest at the Monday market"
        assert body["left_out"]["superseded_decisions"] == 1

    async def test_current_decisions_and_accepted_intents_come_first(self, client, kiwi):
        body = await post(client, query="kiwi", budget=4000)
        kinds = [(p["entity_type"], p["status"]) for p in body["pieces"]]
        assert kinds[0] == ("decision", "active")
        assert kinds[1] == ("intent", "accepted")
        ids = [p["entity_id"] for p in body["pieces"]]
        assert kiwi["intents"]["rejected"] not in ids
        assert kiwi["intents"]["proposed"] in ids
        assert body["left_out"]["rejected_intents"] == 1


class TestBudget:
    @pytest.mark.parametrize("budget", [16, 30, 45, 60, 90, 150])
    async def test_the_budget_is_never_exceeded(self, client, kiwi, db_conninfo, budget):
        body = await post(client, query="kiwi harvest prices", budget=budget)
        assert body["budget"] == budget
        check_citations(body, db_conninfo)

    async def test_a_passage_is_cut_at_a_token_boundary_to_fill_the_budget(
            self, client, kiwi, db_conninfo):
        whole = await post(client, query="kiwi", entity_types=["artifact_version"])
        first = whole["pieces"][0]
        assert first["tokens"] > 30
        body = await post(client, query="kiwi", budget=30, entity_types=["artifact_version"])
        cut = body["pieces"][0]
        assert cut["truncated"] and cut["span_id"] is None
        assert cut["start_offset"] == first["start_offset"]
        assert cut["end_offset"] < first["end_offset"]
        assert first["text"].startswith(cut["text"])
        assert body["tokens_used"] > 30 - 16  # filled, not left mostly empty
        check_citations(body, db_conninfo)

    async def test_without_hits_the_context_is_empty(self, client, kiwi):
        body = await post(client, query="zeppelin", budget=100,
                          entity_types=["intent"])
        assert body["pieces"] == [] and body["text"] == "" and body["tokens_used"] == 0


class TestValidation:
    @pytest.mark.parametrize("fields", [
        {"query": "kiwi", "budget": 15},
        {"query": "kiwi", "budget": 32001},
        {"query": "kiwi", "budget": "lots"},
        {"query": "   "},
        {"query": "kiwi", "hits": 0},
        {"query": "kiwi", "hits": 101},
        {"query": "kiwi", "tokens": 100},
        {"query": "kiwi", "sources": ["farm"], "entity_types": ["decision"]},
        {"query": "kiwi", "artifact_kinds": ["poem"]},
        {"query": "kiwi", "created_after": "2026-01-01T00:00:00"},
        {"budget": 100},
    ])
    async def test_bad_input_is_a_422(self, client, fields):
        response = await client.post(URL, json=fields)
        assert response.status_code == 422, response.text


class TestFilters:
    async def test_sources_and_kinds_narrow_the_pieces(self, client, kiwi, db_conninfo):
        await make_artifact(client, content="kiwi from elsewhere", source="other")
        body = await post(client, query="kiwi", sources=["farm"], artifact_kinds=["note"])
        assert body["pieces"]
        assert {p["artifact_id"] for p in body["pieces"]} == {kiwi["note"]["id"]}
        check_citations(body, db_conninfo)


GRAPHQL = """query($q: String!, $b: Int!) { context(query: $q, budget: $b) {
  budget tokensUsed text searchMode tokenizer { name exact }
  leftOut { supersededDecisions rejectedIntents overBudget }
  pieces { marker entityType entityId artifactId versionId versionNumber spanId spanIds
           merged startOffset endOffset text status replaces truncated rank tokens } } }"""


class TestGraphQL:
    async def test_the_field_returns_the_same_pieces_as_rest(self, client, kiwi):
        for budget in (40, 2000):
            rest = await post(client, query="kiwi harvest", budget=budget)
            response = await client.post("/graphql", json={
                "query": GRAPHQL, "variables": {"q": "kiwi harvest", "b": budget}})
            data = response.json()
            assert "errors" not in data, data
            graph = data["data"]["context"]
            assert graph["text"] == rest["text"]
            assert graph["tokensUsed"] == rest["tokens_used"]
            assert [(p["entityId"], p["spanIds"], p["startOffset"], p["endOffset"], p["text"],
                     p["replaces"], p["truncated"]) for p in graph["pieces"]] == [
                (p["entity_id"], p["span_ids"], p["start_offset"], p["end_offset"], p["text"],
                 p["replaces"], p["truncated"]) for p in rest["pieces"]]

    async def test_bad_budget_is_an_error(self, client):
        response = await client.post("/graphql", json={
            "query": GRAPHQL, "variables": {"q": "kiwi", "b": 1}})
        assert response.json().get("errors")


@pytest.fixture
def text_only_settings(tmp_path) -> Settings:
    return Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path / "unused"), MIMIR_WORKER="off",
                    MIMIR_EMBEDDING_PROVIDER="none")


class TestWithoutProvider:
    @pytest.fixture
    def settings(self, text_only_settings):
        return text_only_settings

    async def test_full_text_search_stands_in(self, client, kiwi, db_conninfo):
        body = await post(client, query="kiwi harvest", budget=300)
        assert body["search_mode"] == "text"
        assert body["pieces"]
        check_citations(body, db_conninfo)


class TestAuth:
    async def test_a_read_key_may_ask_for_context(self, client, kiwi, db_conninfo):
        from psycopg.rows import dict_row

        from mimir.auth.keys import create_key

        async with await psycopg.AsyncConnection.connect(
                db_conninfo, autocommit=True, row_factory=dict_row) as conn:
            read, _ = await create_key(conn, name="reader", scope="read")
        headers = {"Authorization": f"Bearer {read}"}
        response = await client.post(URL, json={"query": "kiwi", "budget": 200}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["pieces"]
        assert (await client.post(URL, json={"query": "kiwi"})).status_code == 401
        write = await client.post("/api/v1/decisions", json={"statement": "x"}, headers=headers)
        assert write.status_code == 403
