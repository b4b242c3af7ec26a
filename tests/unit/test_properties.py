"""Property-based checks (hypothesis) of the parsing and offset rules that matter most:
cursors, filters, and chunk offsets in arbitrary Unicode text."""

from __future__ import annotations

from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from mimir.artifacts.service import ARTIFACT_FILTERS
from mimir.embeddings.chunking import chunk_offsets
from mimir.errors import Invalid
from mimir.query.filters import Conditions, parse_filters
from mimir.query.pagination import decode_cursor, encode_cursor

# Text with emoji, combining marks, right-to-left scripts, NUL and astral characters.
unicode_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=3000) | st.lists(
    st.sampled_from(["a", " ", "\n\n", "é", "e\u0301", "👋🏽", "👨‍👩‍👧", "שלום", "مرحبا",
                     "漢字", "\x00", "𝄞", ". ", "\t"]), max_size=600).map("".join)


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_cursor_round_trip(created_at, ident):
    """Any (created_at, id) survives encoding and decoding unchanged."""
    keyset = decode_cursor(encode_cursor({"created_at": created_at, "id": ident}))
    assert (keyset.created_at, keyset.id) == (created_at, ident)


@given(st.text(max_size=300))
def test_any_cursor_string_is_valid_or_invalid(raw):
    """An arbitrary string is either a valid cursor or an Invalid error, nothing else."""
    try:
        decode_cursor(raw)
    except Invalid:
        pass


filter_keys = st.sampled_from(["kind", "source", "title__icontains", "external_id__in",
                               "created_at__gte", "id", "metadata__project", "metadata__contains",
                               "title__ne"]) | st.text(max_size=40)


@given(st.dictionaries(filter_keys, st.text(max_size=80), max_size=4))
def test_filters_accept_or_refuse_cleanly(params):
    """Arbitrary filter parameters either compile (only allow-listed columns, values bound)
    or raise Invalid."""
    conditions = Conditions()
    try:
        parse_filters(params, ARTIFACT_FILTERS, conditions)
    except Invalid:
        return
    allowed = {field.column for field in ARTIFACT_FILTERS.fields.values()} | {"t", "metadata"}
    assert _identifiers(conditions.where()) <= allowed


def _identifiers(composable) -> set[str]:
    """Every identifier in a composed SQL fragment (client text may only be parameters)."""
    if isinstance(composable, sql.Identifier):
        return set(composable._obj)  # the parts of a (qualified) name
    if isinstance(composable, sql.Composed):
        return set().union(set(), *(_identifiers(part) for part in composable))
    return set()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unicode_text, st.integers(min_value=20, max_value=400))
def test_chunk_offsets_cover_the_text_in_order(text, size):
    """Chunks are exact slices of the text, in order, without overlap, inside its bounds."""
    offsets = chunk_offsets(text, min_chars=size, max_chars=size * 2)
    previous_end = 0
    for start, end in offsets:
        assert 0 <= previous_end <= start < end <= len(text)
        previous_end = end
    if text.strip():
        assert offsets
