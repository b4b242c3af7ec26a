"""The bounds an uploaded JSON file is read within (issue 18, rows 1 and 2): nesting
depth, the length of one value, total size and expansion, checked before ijson sees the
bytes, whatever the read sizes."""

from __future__ import annotations

import gzip
import io
import resource
import time
import zipfile

import pytest

from mimir.transfer.chatgpt import iter_conversations, open_conversations
from mimir.transfer.guard import GuardedStream, JsonLimits, LimitExceeded, bounded_lines

SMALL = JsonLimits(max_depth=5, max_value_bytes=10, max_total_bytes=1000, max_ratio=10)


def _read_all(data: bytes, limits: JsonLimits = SMALL, chunk: int = 3) -> int:
    stream = GuardedStream(io.BytesIO(data), limits)
    while stream.read(chunk):
        pass
    return stream.guard.depth


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 16])
def test_within_bounds_passes_for_any_read_size(chunk):
    assert _read_all(b'[[[{"a": "0123456789", "b": [1, 2.5e3, null]}]]]', chunk=chunk) == 0
    assert _read_all(b'["0123\\\\\\"67", "\\u00e9\\n"]', chunk=chunk) == 0


@pytest.mark.parametrize("chunk", [1, 3, 1 << 16])
def test_too_deep_is_refused(chunk):
    with pytest.raises(LimitExceeded, match="nested deeper than 5 levels"):
        _read_all(b"[[[[[[]]]]]]", chunk=chunk)


def test_brackets_inside_strings_do_not_count():
    assert _read_all(b'["[[[[[[[", "{{{{"]', JsonLimits(max_depth=2)) == 0


@pytest.mark.parametrize("data", [b'["0123456789a"]', b'["01234\\"6789"]', b"[          1]",
                                  b"[12345678901]"])
def test_a_value_too_long_is_refused(data):
    with pytest.raises(LimitExceeded, match="longer than 10 bytes"):
        _read_all(data)


def test_size_and_expansion_are_refused():
    with pytest.raises(LimitExceeded, match="larger than 1000 bytes"):
        _read_all(b"[" + b"1," * 600 + b"1]")
    stream = GuardedStream(io.BytesIO(b"[" + b" ," * 100 + b"1]"), SMALL, compressed_bytes=10)
    with pytest.raises(LimitExceeded, match="expands more than 10 times"):
        stream.read(1000)


def test_depth_bomb_fails_fast_in_little_memory(tmp_path):
    """Row 1: 100,000 '[' then as many ']' (200 KB) cost ijson gigabytes; refused at once."""
    bomb = tmp_path / "conversations.json"
    bomb.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with open_conversations(bomb) as stream, pytest.raises(LimitExceeded, match="deeper"):
        list(iter_conversations(stream))
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_zip_bomb_is_refused_by_its_declared_ratio(tmp_path):
    """Row 2: a small zip of whitespace is refused before it is decompressed."""
    bomb = tmp_path / "export.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", b"[" + b" " * 20_000_000 + b"]")
    with pytest.raises(LimitExceeded, match="expands more than 100 times"):
        with open_conversations(bomb):
            pass


def test_a_long_string_is_refused_before_the_lexer_goes_quadratic(tmp_path):
    """Row 2: one long JSON string made yajl re-scan it on every read."""
    path = tmp_path / "conversations.json"
    path.write_bytes(b'[{"id": "' + b"a" * 3_000_000 + b'"}]')
    limits = JsonLimits(max_value_bytes=1_000_000)
    with open_conversations(path, limits) as stream, pytest.raises(LimitExceeded,
                                                                    match="longer than"):
        list(iter_conversations(stream))


def test_bounded_lines():
    limits = JsonLimits(max_value_bytes=10, max_total_bytes=100, max_ratio=5)
    assert list(bounded_lines(io.BytesIO(b"12345\n0123456789\n"), limits)) == [
        b"12345\n", b"0123456789\n"]
    with pytest.raises(LimitExceeded, match="line is longer than 10 bytes"):
        list(bounded_lines(io.BytesIO(b"0123456789a\n"), limits))
    packed = gzip.compress(b"1\n" * 40)
    with pytest.raises(LimitExceeded, match="expands more than 5 times"):
        list(bounded_lines(gzip.GzipFile(fileobj=io.BytesIO(packed)), limits,
                           compressed_bytes=10))
