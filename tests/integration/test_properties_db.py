"""Property-based checks (hypothesis) of the rules that matter most, against the real app and
database: gap-free version numbering with deduplication of the latest content, span offsets
in arbitrary Unicode (code points, like Python `str` indices), and NUL refused everywhere.

One database per property (the `client` fixture), with fresh artifacts in every example."""

from __future__ import annotations

import hashlib
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# Text with emoji (ZWJ sequences, skin tones), combining marks, right-to-left scripts, astral
# characters and line breaks; no NUL, which is refused (see TestNulRefused).
FRAGMENTS = ["a", " ", "\n", "\r\n", "é", "e\u0301", "a\u0308\u0323", "👋🏽", "👨‍👩‍👧", "🇳🇴",
             "שלום", "مرحبا", "\u200f", "\u202e", "漢字", "𝄞", "𐍈", "\U0010fffd", "\t", "\\",
             '"', "'", "%s", "$1"]
no_nul = st.characters(codec="utf-8", exclude_characters="\x00")
unicode_text = (st.text(alphabet=no_nul, max_size=200)
                | st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
nonempty_text = unicode_text.filter(len)
nul_text = st.tuples(st.text(alphabet=no_nul, max_size=10),
                     st.text(alphabet=no_nul, max_size=10)).map(lambda t: t[0] + "\x00" + t[1])


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
async def db(db_conninfo):
    """A direct connection to the test's database, to see what was (not) written."""
    async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True) as conn:
        yield conn


async def _counts(db: psycopg.AsyncConnection) -> tuple[int, ...]:
    cursor = await db.execute(
        "SELECT (SELECT count(*) FROM artifacts), (SELECT count(*) FROM artifact_versions),"
        " (SELECT count(*) FROM spans), (SELECT count(*) FROM provenance),"
        " (SELECT count(*) FROM relations)")
    return await cursor.fetchone()


async def _create(client, content: str, **extra) -> dict:
    response = await client.post("/api/v1/artifacts",
                                 json={"kind": "document", "content": content, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def _assert_invalid(response) -> dict:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["message"]
    return error


# (kind, argument): a new content, the latest content again, or an earlier content again.
append_ops = st.lists(st.one_of(st.tuples(st.just("new"), unicode_text),
                                st.tuples(st.just("latest"), st.none()),
                                st.tuples(st.just("earlier"), st.integers(0, 50))),
                      min_size=1, max_size=10)


class TestVersionNumbering:
    @PROPERTY
    @given(first=unicode_text, ops=append_ops)
    async def test_appends_number_versions_without_gaps(self, client, first, ops):
        """Any sequence of appends numbers versions 1..n without a gap; the latest content
        again returns the latest version (200, created false), an earlier content again is
        a new version; every version reads back with the content, hash and length written."""
        artifact = await _create(client, first)
        artifact_id = artifact["id"]
        assert artifact["versions"][0]["version_number"] == 1
        contents = [first]
        for kind, arg in ops:
            content = (arg if kind == "new" else contents[-1] if kind == "latest"
                       else contents[arg % len(contents)])
            response = await client.post(f"/api/v1/artifacts/{artifact_id}/versions",
                                         json={"content": content})
            body = response.json()
            if content == contents[-1]:
                assert (response.status_code, body["created"]) == (200, False), body
                assert body["version_number"] == len(contents)
            else:
                assert (response.status_code, body["created"]) == (201, True), body
                contents.append(content)
                assert body["version_number"] == len(contents)
            assert body["content_hash"] == sha256(content)
            assert body["content_length"] == len(content)

        detail = (await client.get(f"/api/v1/artifacts/{artifact_id}")).json()
        assert detail["latest_version_number"] == len(contents)
        assert [v["version_number"] for v in detail["versions"]] == list(
            range(1, len(contents) + 1))
        for number, (version, content) in enumerate(zip(detail["versions"], contents,
                                                        strict=True), start=1):
            assert version["content_hash"] == sha256(content)
            assert version["content_length"] == len(content)
            stored = (await client.get(f"/api/v1/artifacts/{artifact_id}/versions/{number}")
                      ).json()
            assert stored["content"] == content
            assert stored["content_hash"] == sha256(content)


@st.composite
def ranges(draw, length: int, valid: bool) -> tuple[int, int]:
    """A [start, end) that is valid for content of `length` code points, or one that is not
    (start > end, empty, end past the content, negative, huge)."""
    if valid:
        start = draw(st.integers(0, length - 1))
        return start, draw(st.integers(start + 1, length))
    start, end = draw(st.one_of(
        st.integers(0, length + 3).flatmap(lambda e: st.tuples(st.integers(e, e + 5),
                                                               st.just(e))),  # start >= end
        st.tuples(st.integers(0, length), st.integers(length + 1, length + 10**6)),
        st.tuples(st.integers(-(10**6), -1), st.integers(-5, length)),
        st.tuples(st.integers(0, length), st.just(2**63)),
    ))
    return start, end


class TestSpanOffsets:
    @PROPERTY
    @given(content=nonempty_text, data=st.data())
    async def test_span_text_is_the_python_slice(self, client, db, content, data):
        """Any valid [start, end) makes a span whose text is content[start:end] in code
        points (also when read back); any invalid range is a 422 that states the valid
        range and writes nothing."""
        artifact = await _create(client, content)
        version = artifact["versions"][0]
        length = len(content)
        assert version["content_length"] == length

        created = 0
        for _ in range(data.draw(st.integers(1, 3), label="valid spans")):
            start, end = data.draw(ranges(length, valid=True), label="valid range")
            by_number = data.draw(st.booleans(), label="named by artifact and number")
            where = ({"artifact_id": artifact["id"], "version_number": 1} if by_number
                     else {"version_id": version["id"]})
            response = await client.post("/api/v1/spans", json={
                **where, "start_offset": start, "end_offset": end})
            assert response.status_code == 201, response.text
            span = response.json()
            created += 1
            assert span["text"] == content[start:end]
            assert (span["start_offset"], span["end_offset"]) == (start, end)
            again = (await client.get(f"/api/v1/spans/{span['id']}")).json()
            assert again["text"] == content[start:end]

        for _ in range(data.draw(st.integers(1, 3), label="invalid spans")):
            start, end = data.draw(ranges(length, valid=False), label="invalid range")
            before = await _counts(db)
            response = await client.post("/api/v1/spans", json={
                "version_id": version["id"], "start_offset": start, "end_offset": end})
            error = _assert_invalid(response)
            assert error["details"] == {"min": 0, "max": length}
            assert f"start_offset={start}" in error["message"]
            assert f"end_offset={end}" in error["message"]
            assert f"<= {length}" in error["message"]
            assert await _counts(db) == before

        cursor = await db.execute("SELECT count(*) FROM spans WHERE artifact_version_id = %s",
                                  (version["id"],))
        assert (await cursor.fetchone())[0] == created


def _with_nul(target: str, bad: str, artifact_id: str, version_id: str) -> tuple[str, str, dict]:
    """(method, path, body) of a write that carries `bad` (which holds a NUL) in `target`."""
    create = ("POST", "/api/v1/artifacts", {"kind": "note", "content": "fine"})
    append = ("POST", f"/api/v1/artifacts/{artifact_id}/versions", {"content": "fine too"})
    span = ("POST", "/api/v1/spans", {"version_id": version_id, "start_offset": 0,
                                      "end_offset": 1})
    method, path, body = {
        "content": create, "title": create, "source": create, "external_id": create,
        "metadata_value": create, "metadata_key": create, "nested_metadata": create,
        "version_metadata": create, "provenance_model": create,
        "append_content": append, "append_metadata": append,
        "span_label": span, "span_metadata": span,
    }[target]
    body = dict(body)
    if target in {"content", "title", "source", "external_id"}:
        body[target] = bad
    elif target == "append_content":
        body["content"] = bad
    elif target == "span_label":
        body["label"] = bad
    elif target in {"metadata_value", "append_metadata", "span_metadata"}:
        body["metadata"] = {"note": bad}
    elif target == "metadata_key":
        body["metadata"] = {bad: 1}
    elif target == "nested_metadata":
        body["metadata"] = {"a": [1, {"b": ["x", bad]}]}
    elif target == "version_metadata":
        body["version_metadata"] = {"note": bad}
    elif target == "provenance_model":
        body["provenance"] = {"model": bad}
    return method, path, body


NUL_TARGETS = ["content", "title", "source", "external_id", "metadata_value", "metadata_key",
               "nested_metadata", "version_metadata", "provenance_model", "append_content",
               "append_metadata", "span_label", "span_metadata"]


class TestNulRefused:
    @PROPERTY
    @given(target=st.sampled_from(NUL_TARGETS), bad=nul_text)
    async def test_nul_anywhere_is_422_and_writes_nothing(self, client, db, target, bad):
        """A NUL in content, title, source, external id, metadata (keys, values, nested),
        provenance or a span label is refused with 422, and no row is written anywhere."""
        artifact = await _create(client, f"base {uuid.uuid4()}")
        method, path, body = _with_nul(target, bad, artifact["id"],
                                       artifact["versions"][0]["id"])
        before = await _counts(db)
        response = await client.request(method, path, json=body)
        _assert_invalid(response)
        assert "NUL" in response.text
        assert await _counts(db) == before
