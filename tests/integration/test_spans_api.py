"""Spans over REST: naming the version two ways, offsets in code points checked against the
version's length, text derived exactly like Python slicing (emoji, combining marks, RTL,
CJK, astral plane), provenance in the same transaction, and both listing modes."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg

from mimir.db.errors import to_domain_error
from mimir.errors import Invalid
from tests.factories import append_version, make_artifact, make_span

MISSING = "00000000-0000-0000-0000-000000000000"

# 17 code points; 25 UTF-8 bytes and 19 UTF-16 units, so any other count breaks the tests.
SEVENTEEN = "héllo 👋🏽 wörld!!!"

# Hard text: skin-tone emoji (2 code points), a ZWJ family, a flag, e + combining acute,
# Arabic and Hebrew (RTL) between LTR words, CJK, and astral-plane letters and symbols.
HARD_TEXTS = [
    "Hi 👋🏽 there, 👨‍👩‍👧 and 🇳🇴!",
    "cafe\u0301 re\u0301sume\u0301 n\u0303o",
    "say مرحبا بالعالم then שלום עולם ok",
    "中文字符測試，日本語のテキスト、한국어",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 🀄 𓂀 end",
]


async def _version_id(client, content: str = "hello world") -> tuple[str, str]:
    artifact = await make_artifact(client, content=content)
    return artifact["id"], artifact["versions"][0]["id"]


def _all_ranges(content: str) -> list[tuple[int, int]]:
    """Every valid (start, end) of a short string, so every cut through a cluster is tried."""
    n = len(content)
    return [(s, e) for s in range(n) for e in range(s + 1, n + 1)]


class TestCreate:
    async def test_create_by_version_id(self, client):
        """A span by version_id returns 201 with its version, artifact and covered text."""
        artifact_id, version_id = await _version_id(client, "hello world")
        response = await client.post("/api/v1/spans", json={
            "version_id": version_id, "start_offset": 6, "end_offset": 11, "span_type": "quote",
            "label": "the world", "metadata": {"speaker": "user"}})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["text"] == "world"
        assert (body["version_id"], body["artifact_id"], body["version_number"]) == (
            version_id, artifact_id, 1)
        assert (body["start_offset"], body["end_offset"]) == (6, 11)
        assert (body["span_type"], body["label"], body["metadata"]) == (
            "quote", "the world", {"speaker": "user"})
        assert body["id"] and body["created_at"]

    async def test_create_by_artifact_and_version_number(self, client):
        """artifact_id + version_number picks that version, not the latest."""
        artifact = await make_artifact(client, content="first version")
        v2 = await append_version(client, artifact_id=artifact["id"], content="second one")
        first = await make_span(client, artifact_id=artifact["id"], version_number=1,
                                start_offset=0, end_offset=5)
        second = await make_span(client, artifact_id=artifact["id"], version_number=2,
                                 start_offset=0, end_offset=6)
        assert (first["text"], first["version_id"], first["version_number"]) == (
            "first", artifact["versions"][0]["id"], 1)
        assert (second["text"], second["version_id"], second["version_number"]) == (
            "second", v2["id"], 2)

    async def test_span_type_defaults_to_generic(self, client):
        """Without span_type the span is `generic`, without label null, metadata {}."""
        _, version_id = await _version_id(client)
        body = await make_span(client, version_id=version_id)
        assert (body["span_type"], body["label"], body["metadata"]) == ("generic", None, {})

    @pytest.mark.parametrize("naming", [
        {"version_id": "V", "artifact_id": "A", "version_number": 1},
        {"version_id": "V", "artifact_id": "A"},
        {"version_id": "V", "version_number": 1},
        {},
        {"artifact_id": "A"},
        {"version_number": 1},
    ])
    async def test_version_named_exactly_one_way(self, client, naming):
        """Both ways, neither, or half of artifact_id + version_number is a 422."""
        artifact_id, version_id = await _version_id(client)
        ids = {"V": version_id, "A": artifact_id}
        payload = {k: ids.get(v, v) for k, v in naming.items()}
        response = await client.post("/api/v1/spans",
                                     json={**payload, "start_offset": 0, "end_offset": 1})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid"
        assert "version_id" in str(response.json()["error"]["details"])
        listed = (await client.get("/api/v1/spans", params={"version_id": version_id})).json()
        assert listed["items"] == []

    @pytest.mark.parametrize("payload", [
        {"span_type": "Quote"},
        {"span_type": "has space"},
        {"span_type": "x" * 65},
        {"label": "nul \x00 inside"},
        {"label": ""},
        {"metadata": ["not", "an", "object"]},
        {"metadata": {"k": "nul\x00"}},
        {"start_offset": "0"},
        {"end_offset": 1.5},
        {"version_id": "not-a-uuid"},
        {"version_number": 0},
    ])
    async def test_bad_input_is_422(self, client, payload):
        """Bad span types, NUL characters, non-object metadata, non-integer offsets and
        malformed ids are refused before anything is written."""
        _, version_id = await _version_id(client)
        body = {"version_id": version_id, "start_offset": 0, "end_offset": 1, **payload}
        if "version_number" in payload:
            body = {"artifact_id": MISSING, **{k: v for k, v in body.items() if k != "version_id"}}
        response = await client.post("/api/v1/spans", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid"

    async def test_unknown_version_or_artifact_is_404(self, client):
        """An unknown version_id, artifact_id or version_number is a 404 naming what is missing."""
        artifact_id, _ = await _version_id(client)
        cases = [
            ({"version_id": MISSING}, f"artifact version {MISSING} does not exist"),
            ({"artifact_id": MISSING, "version_number": 1}, f"artifact {MISSING} does not exist"),
            ({"artifact_id": artifact_id, "version_number": 2},
             f"artifact {artifact_id} has no version 2"),
        ]
        for naming, message in cases:
            response = await client.post("/api/v1/spans",
                                         json={**naming, "start_offset": 0, "end_offset": 1})
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"
            assert response.json()["error"]["message"] == message


class TestOffsets:
    async def test_offsets_count_code_points(self, client):
        """The whole of a 17-code-point version (25 UTF-8 bytes) is a valid span; one more
        is not."""
        assert len(SEVENTEEN) == 17 and len(SEVENTEEN.encode()) == 25
        _, version_id = await _version_id(client, SEVENTEEN)
        whole = await make_span(client, version_id=version_id, start_offset=0, end_offset=17)
        assert whole["text"] == SEVENTEEN
        last = await make_span(client, version_id=version_id, start_offset=16, end_offset=17)
        assert last["text"] == "!"

    async def test_out_of_range_offsets_state_the_valid_range(self, client):
        """Offsets outside 0 <= start < end <= length are a 422 that states the range, with
        details min/max, and nothing is written."""
        _, version_id = await _version_id(client, SEVENTEEN)
        for start, end in [(0, 18), (16, 18), (17, 18), (-1, 3), (5, 5), (6, 5), (0, 0),
                           (0, 25), (0, 10**30)]:
            response = await client.post("/api/v1/spans", json={
                "version_id": version_id, "start_offset": start, "end_offset": end})
            assert response.status_code == 422, (start, end, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid"
            assert error["message"].startswith(
                "offsets must satisfy 0 <= start_offset < end_offset <= 17 for this version "
                "(length 17)"), error["message"]
            assert error["details"] == {"min": 0, "max": 17}
        listed = (await client.get("/api/v1/spans", params={"version_id": version_id})).json()
        assert listed["items"] == []

    async def test_range_is_that_of_the_named_version(self, client):
        """The limit is the length of the version named, not of the latest one."""
        artifact = await make_artifact(client, content="short")
        await append_version(client, artifact_id=artifact["id"], content="a much longer text")
        response = await client.post("/api/v1/spans", json={
            "artifact_id": artifact["id"], "version_number": 1, "start_offset": 0,
            "end_offset": 6})
        assert response.status_code == 422
        assert response.json()["error"]["details"] == {"min": 0, "max": 5}
        ok = await make_span(client, artifact_id=artifact["id"], version_number=2,
                             start_offset=0, end_offset=18)
        assert ok["text"] == "a much longer text"

    async def test_empty_version_admits_no_span(self, client):
        """An empty version has length 0: every span is refused with max 0."""
        _, version_id = await _version_id(client, "")
        response = await client.post("/api/v1/spans", json={
            "version_id": version_id, "start_offset": 0, "end_offset": 1})
        assert response.status_code == 422
        assert response.json()["error"]["details"] == {"min": 0, "max": 0}

    async def test_database_trigger_backs_up_the_check(self, client, db_conninfo):
        """Written past the service, an out-of-range span is still rejected by the
        spans_within_version trigger, which the data layer maps to a 422."""
        _, version_id = await _version_id(client, SEVENTEEN)
        with psycopg.connect(db_conninfo) as conn, pytest.raises(pg.CheckViolation) as exc:
            conn.execute("INSERT INTO spans (artifact_version_id, start_offset, end_offset) "
                         "VALUES (%s, 0, 18)", (version_id,))
        assert exc.value.diag.constraint_name == "spans_within_version"
        domain = to_domain_error(exc.value)
        assert isinstance(domain, Invalid) and domain.status_code == 422
        assert "within [0, 17]" in domain.message


class TestText:
    @pytest.mark.parametrize("content", HARD_TEXTS)
    async def test_text_equals_python_slice(self, client, content):
        """For every range of hard Unicode text, the span's text is content[start:end]
        exactly -- on create, on GET, and in the listing with include_text."""
        _, version_id = await _version_id(client, content)
        n = len(content)
        ranges = [(0, n), (0, 1), (n - 1, n)] + _all_ranges(content)[:: max(1, n // 2)]
        created = {}
        for start, end in ranges:
            body = await make_span(client, version_id=version_id, start_offset=start,
                                   end_offset=end)
            assert body["text"] == content[start:end], (start, end)
            created[body["id"]] = content[start:end]
        some_id = next(iter(created))
        fetched = (await client.get(f"/api/v1/spans/{some_id}")).json()
        assert fetched["text"] == created[some_id]
        listed, cursor = [], None
        while True:
            params = {"version_id": version_id, "include_text": "true", "limit": 200,
                      **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/spans", params=params)).json()
            listed += page["items"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert {item["id"]: item["text"] for item in listed} == created

    async def test_cuts_through_clusters_like_python(self, client):
        """Cutting between an emoji and its skin tone, or a letter and its combining accent,
        gives exactly Python's halves."""
        content = "a👋🏽e\u0301b"
        _, version_id = await _version_id(client, content)
        wave = await make_span(client, version_id=version_id, start_offset=1, end_offset=2)
        tone = await make_span(client, version_id=version_id, start_offset=2, end_offset=3)
        accent = await make_span(client, version_id=version_id, start_offset=4, end_offset=5)
        assert (wave["text"], tone["text"], accent["text"]) == ("👋", "🏽", "\u0301")
        assert len(content) == 6

    async def test_text_is_derived_not_stored(self, client, db_conninfo):
        """The spans table holds offsets only; the text comes from the version's content."""
        _, version_id = await _version_id(client, "hello world")
        await make_span(client, version_id=version_id, start_offset=6, end_offset=11)
        with psycopg.connect(db_conninfo) as conn:
            columns = {row[0] for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'spans'")}
        assert columns == {"id", "artifact_version_id", "start_offset", "end_offset", "span_type", "label",
                           "metadata", "created_at", "namespace"}


class TestGet:
    async def test_get_returns_span_with_text(self, client):
        """GET /spans/{id} returns the same span as the create, with its text."""
        _, version_id = await _version_id(client, "hello world")
        created = await make_span(client, version_id=version_id, start_offset=0, end_offset=5)
        response = await client.get(f"/api/v1/spans/{created['id']}")
        assert response.status_code == 200
        assert response.json() == created

    async def test_unknown_and_malformed_ids(self, client):
        """A malformed id is a 422; an unknown one a 404."""
        assert (await client.get("/api/v1/spans/not-a-uuid")).status_code == 422
        missing = await client.get(f"/api/v1/spans/{MISSING}")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"


class TestProvenance:
    async def test_provenance_from_body_and_headers(self, client):
        """Body provenance (with evidence) and X-Provenance-* headers are recorded for the
        span; body fields win over headers."""
        _, version_id = await _version_id(client)
        evidence = await make_span(client, version_id=version_id, start_offset=0, end_offset=5)
        response = await client.post(
            "/api/v1/spans",
            json={"version_id": version_id, "start_offset": 6, "end_offset": 11,
                  "provenance": {"model": "body-model", "evidence_span_ids": [evidence["id"]]}},
            headers={"X-Provenance-Model": "header-model", "X-Provenance-Pipeline": "chunker 2"})
        assert response.status_code == 201, response.text
        records = (await client.get(f"/api/v1/provenance/span/{response.json()['id']}")).json()
        assert [(r["model"], r["pipeline_version"], r["evidence_span_ids"]) for r in records] == [
            ("body-model", "chunker 2", [evidence["id"]])]
        assert (await client.get(f"/api/v1/provenance/span/{evidence['id']}")).json() == []

    async def test_bad_evidence_rolls_back_the_span(self, client):
        """Provenance naming a missing evidence span fails the write: no span is left."""
        _, version_id = await _version_id(client)
        missing_span = "11111111-1111-1111-1111-111111111111"
        response = await client.post("/api/v1/spans", json={
            "version_id": version_id, "start_offset": 0, "end_offset": 5,
            "provenance": {"model": "m", "evidence_span_ids": [missing_span]}})
        assert response.status_code == 422
        assert missing_span in response.json()["error"]["message"]
        listed = (await client.get("/api/v1/spans", params={"version_id": version_id})).json()
        assert listed["items"] == []


class TestListing:
    async def _two_versions(self, client):
        artifact = await make_artifact(client, content="alpha beta gamma")
        v2 = await append_version(client, artifact_id=artifact["id"], content="delta epsilon")
        v1_id = artifact["versions"][0]["id"]
        s1 = await make_span(client, version_id=v1_id, start_offset=0, end_offset=5,
                             span_type="word", label="Alpha", metadata={"speaker": "user"})
        s2 = await make_span(client, version_id=v2["id"], start_offset=6, end_offset=13,
                             span_type="word", label="Epsilon")
        s3 = await make_span(client, version_id=v1_id, start_offset=11, end_offset=16,
                             span_type="quote", metadata={"speaker": "assistant"})
        return artifact["id"], v1_id, v2["id"], [s1, s2, s3]

    async def test_by_artifact_covers_all_versions(self, client):
        """artifact_id lists the spans of every version of that artifact, and only those."""
        artifact_id, v1_id, v2_id, spans = await self._two_versions(client)
        _, other_version = await _version_id(client, "other text")
        await make_span(client, version_id=other_version, start_offset=0, end_offset=5)
        page = (await client.get("/api/v1/spans", params={"artifact_id": artifact_id})).json()
        assert [i["id"] for i in page["items"]] == [s["id"] for s in spans]
        assert [(i["version_id"], i["version_number"]) for i in page["items"]] == [
            (v1_id, 1), (v2_id, 2), (v1_id, 1)]
        assert all("text" not in i for i in page["items"])
        assert page["has_more"] is False and page["next_cursor"] is None

    async def test_by_version_covers_that_version(self, client):
        """version_id lists only that version's spans."""
        _, v1_id, v2_id, spans = await self._two_versions(client)
        page = (await client.get("/api/v1/spans", params={"version_id": v1_id})).json()
        assert [i["id"] for i in page["items"]] == [spans[0]["id"], spans[2]["id"]]
        page = (await client.get("/api/v1/spans", params={"version_id": v2_id})).json()
        assert [i["id"] for i in page["items"]] == [spans[1]["id"]]

    async def test_include_text(self, client):
        """include_text=true adds each span's text; fields=...,text also selects it."""
        artifact_id, _, _, spans = await self._two_versions(client)
        page = (await client.get("/api/v1/spans", params={
            "artifact_id": artifact_id, "include_text": "true"})).json()
        assert [i["text"] for i in page["items"]] == ["alpha", "epsilon", "gamma"]
        page = (await client.get("/api/v1/spans", params={
            "artifact_id": artifact_id, "fields": "id,text"})).json()
        assert page["items"] == [{"id": s["id"], "text": s["text"]} for s in spans]

    @pytest.mark.parametrize("params", [{}, {"artifact_id": "A", "version_id": "V"}])
    async def test_exactly_one_base_parameter(self, client, params):
        """Without artifact_id or version_id, or with both, the listing is a 422."""
        artifact_id, version_id = await _version_id(client)
        ids = {"A": artifact_id, "V": version_id}
        response = await client.get("/api/v1/spans",
                                    params={k: ids[v] for k, v in params.items()})
        assert response.status_code == 422, response.text
        assert "artifact_id" in response.json()["error"]["message"]
        assert "version_id" in response.json()["error"]["message"]

    @pytest.mark.parametrize("params", [{"artifact_id": MISSING}, {"version_id": MISSING}])
    async def test_unknown_base_is_404(self, client, params):
        """Listing the spans of an unknown artifact or version is a 404."""
        response = await client.get("/api/v1/spans", params=params)
        assert response.status_code == 404
        assert MISSING in response.json()["error"]["message"]

    async def test_malformed_base_id_is_422(self, client):
        response = await client.get("/api/v1/spans", params={"artifact_id": "nope"})
        assert response.status_code == 422

    async def test_cursor_pages_cover_everything_once(self, client):
        """Walking next_cursor visits every span exactly once, in creation order."""
        artifact_id, version_id = await _version_id(client, "0123456789")
        created = [(await make_span(client, version_id=version_id, start_offset=i,
                                    end_offset=i + 1))["id"] for i in range(7)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"artifact_id": artifact_id, "limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/spans", params=params)).json()
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == created and pages == 3
        page = (await client.get("/api/v1/spans", params={
            "version_id": version_id, "limit": 2, "offset": 5})).json()
        assert [i["id"] for i in page["items"]] == created[5:]

    async def test_filters(self, client):
        """Generic filters narrow the artifact listing; an injection attempt is just a value
        that matches nothing."""
        artifact_id, _, _, spans = await self._two_versions(client)
        cases = [
            ({"span_type": "word"}, [0, 1]),
            ({"span_type__in": "quote,other"}, [2]),
            ({"label": "Alpha"}, [0]),
            ({"label__icontains": "EPS"}, [1]),
            ({"start_offset__gte": "6"}, [1, 2]),
            ({"start_offset__lte": "6"}, [0, 1]),
            ({"end_offset__gte": "13"}, [1, 2]),
            ({"end_offset__lte": "13"}, [0, 1]),
            ({"version_number": "2"}, [1]),
            ({"metadata__speaker": "assistant"}, [2]),
            ({"metadata__contains": '{"speaker": "user"}'}, [0]),
            ({"created_at__gte": "2000-01-01T00:00:00+00:00"}, [0, 1, 2]),
            ({"created_at__lt": "2000-01-01T00:00:00+00:00"}, []),
            ({"id": spans[1]["id"]}, [1]),
            ({"span_type": "word", "start_offset__gte": "1"}, [1]),
            ({"label": "x'); DROP TABLE spans; --"}, []),
        ]
        for params, expected in cases:
            response = await client.get("/api/v1/spans",
                                        params={"artifact_id": artifact_id, **params})
            assert response.status_code == 200, (params, response.text)
            assert [i["id"] for i in response.json()["items"]] == [
                spans[n]["id"] for n in expected], params
        page = (await client.get("/api/v1/spans", params={"artifact_id": artifact_id})).json()
        assert len(page["items"]) == 3

    async def test_bad_parameters(self, client):
        """Unknown fields/operators, bad values, tampered cursors are 422s naming the parameter."""
        artifact_id, version_id = await _version_id(client)
        await make_span(client, version_id=version_id)
        cases = [
            ({"colour": "red"}, "colour"),
            ({"text": "alpha"}, "text"),
            ({"span_type__gt": "a"}, "span_type__gt"),
            ({"start_offset": "three"}, "start_offset"),
            ({"created_at__gte": "yesterday"}, "created_at__gte"),
            ({"fields": "id,secret"}, "fields"),
            ({"cursor": "bm90LWEtY3Vyc29y.000000000000"}, "cursor"),
            ({"limit": "500"}, "limit"),
        ]
        for params, parameter in cases:
            response = await client.get("/api/v1/spans",
                                        params={"artifact_id": artifact_id, **params})
            assert response.status_code == 422, (params, response.text)
            assert response.json()["error"]["details"].get("parameter") == parameter, params

    async def test_unknown_filter_lists_allowed_fields(self, client):
        """An unknown filter field is a 422 whose message and details list the allowed ones."""
        artifact_id, _ = await _version_id(client)
        response = await client.get("/api/v1/spans", params={"artifact_id": artifact_id,
                                                             "colour": "red"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert "unknown filter field 'colour'" in error["message"]
        allowed = error["details"]["allowed"]
        for name in ("span_type", "label", "start_offset", "end_offset", "created_at", "id"):
            assert any(a.startswith(name + "[") for a in allowed), (name, allowed)
            assert name in error["message"]
        assert "metadata__<key>" in allowed
