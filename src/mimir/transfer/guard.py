"""Bounds on an untrusted JSON byte stream, checked while it is read and before a parser
sees the bytes: nesting depth, the length of one value (a string, number or run of
whitespace), and the total size. JSON parsers spend memory quadratic in the depth (ijson
keeps a prefix per level) or time quadratic in one long token (yajl re-scans a token
split across reads); a file that passes these bounds costs linear time and memory.

`GuardedStream(raw, limits)` is a binary file object whose `read` raises `LimitExceeded`
as soon as the data read so far breaks a bound. For compressed input (a zip member, a gzip
file) `compressed_bytes` adds a bound on the expansion ratio, the mark of a zip bomb.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

# Inside a string: everything up to the closing quote, escapes included (unrolled loop).
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
# Outside strings: the next byte that starts a string or is structural.
_DELIMITER = re.compile(rb'["\[\]{},:]')
_OPENERS = (ord("["), ord("{"))
_CLOSERS = (ord("]"), ord("}"))
_QUOTE = ord('"')
_BACKSLASH = ord("\\")


class LimitExceeded(ValueError):
    """The data breaks one of the bounds; the message says which, for the user."""


@dataclass(frozen=True)
class JsonLimits:
    """MIMIR_IMPORT_MAX_DEPTH, _MAX_VALUE_BYTES, _MAX_JSON_BYTES and _MAX_RATIO."""

    max_depth: int = 256
    max_value_bytes: int = 32 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: int = 100

    def check_total(self, total: int, compressed_bytes: int | None) -> None:
        """Refuse `total` bytes of data read so far (from `compressed_bytes` on disk)."""
        if total > self.max_total_bytes:
            raise LimitExceeded(f"the data is larger than {self.max_total_bytes} bytes "
                                "(MIMIR_IMPORT_MAX_JSON_BYTES)")
        if compressed_bytes is not None and total > self.max_ratio * max(compressed_bytes, 1):
            raise LimitExceeded(f"the compressed data expands more than {self.max_ratio} "
                                "times (MIMIR_IMPORT_MAX_RATIO): refused as a "
                                "decompression bomb")


class JsonGuard:
    """The scanner state between two reads: in a string or not, the current value's
    length, the nesting depth."""

    def __init__(self, limits: JsonLimits, compressed_bytes: int | None = None) -> None:
        self.limits = limits
        self.compressed_bytes = compressed_bytes
        self.depth = 0
        self.in_string = False
        self.escaped = False  # the last read ended on a backslash inside a string
        self.run = 0  # bytes of the current string, or since the last delimiter outside
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self.limits.check_total(self.total, self.compressed_bytes)
        pos, size = 0, len(data)
        while pos < size:
            if self.in_string:
                pos = self._string(data, pos, size)
            else:
                pos = self._outside(data, pos, size)

    def _string(self, data: bytes, pos: int, size: int) -> int:
        if self.escaped:
            self.escaped = False
            self.run += 1
            pos += 1
        end = _STRING_BODY.match(data, pos).end()
        self.run += end - pos
        if self.run > self.limits.max_value_bytes:
            raise LimitExceeded(self._too_long())
        if end >= size:
            return size
        if data[end] == _BACKSLASH:  # the escape continues in the next read
            self.escaped = True
            self.run += 1
            return size
        self.in_string, self.run = False, 0
        return end + 1

    def _outside(self, data: bytes, pos: int, size: int) -> int:
        match = _DELIMITER.search(data, pos)
        end = match.start() if match else size
        self.run += end - pos
        if self.run > self.limits.max_value_bytes:
            raise LimitExceeded(self._too_long())
        if match is None:
            return size
        self.run = 0
        byte = data[end]
        if byte == _QUOTE:
            self.in_string = True
        elif byte in _OPENERS:
            self.depth += 1
            if self.depth > self.limits.max_depth:
                raise LimitExceeded(f"the JSON is nested deeper than {self.limits.max_depth} "
                                    "levels (MIMIR_IMPORT_MAX_DEPTH)")
        elif byte in _CLOSERS:
            self.depth -= 1
        return end + 1


    def _too_long(self) -> str:
        return (f"one JSON value is longer than {self.limits.max_value_bytes} bytes "
                "(MIMIR_IMPORT_MAX_VALUE_BYTES)")


class GuardedStream:
    """A read-only binary stream that checks everything it hands out with a JsonGuard."""

    def __init__(self, raw: IO[bytes], limits: JsonLimits,
                 compressed_bytes: int | None = None) -> None:
        self.raw = raw
        self.guard = JsonGuard(limits, compressed_bytes)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.guard.feed(data)
        return data

    def tell(self) -> int:
        return self.guard.total


def bounded_lines(raw: IO[bytes], limits: JsonLimits,
                  compressed_bytes: int | None = None) -> Iterator[bytes]:
    """The lines of `raw` (JSON Lines), each at most `max_value_bytes` long, within the
    total size and expansion bounds."""
    total = 0
    while True:
        line = raw.readline(limits.max_value_bytes + 1)
        if not line:
            return
        total += len(line)
        limits.check_total(total, compressed_bytes)
        if len(line) > limits.max_value_bytes and not line.endswith(b"\n"):
            raise LimitExceeded(f"a line is longer than {limits.max_value_bytes} bytes "
                                "(MIMIR_IMPORT_MAX_VALUE_BYTES)")
        yield line
