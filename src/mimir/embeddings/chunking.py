"""Splitting version content into chunks with exact character offsets.

semantic-text-splitter (Rust) splits at the highest semantic level that fits (paragraphs,
then sentences, then words) and returns the offset of each chunk; offsets are checked
against the text, so a chunk is always exactly content[start:end].
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

from semantic_text_splitter import TextSplitter

CHUNKER = f"semantic-text-splitter {version('semantic-text-splitter')}"


@lru_cache(maxsize=8)
def _splitter(min_chars: int, max_chars: int) -> TextSplitter:
    return TextSplitter((min_chars, max_chars), trim=True)


def chunk_offsets(text: str, *, min_chars: int, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) code-point offsets of each chunk, in order; [] for blank text."""
    spans = []
    for start, chunk in _splitter(min_chars, max(max_chars, min_chars)).chunk_indices(text):
        end = start + len(chunk)
        if text[start:end] != chunk:  # never trust offsets blindly
            raise AssertionError("chunk offsets do not match the text")
        spans.append((start, end))
    return spans


def chunker_description(min_chars: int, max_chars: int) -> str:
    return f"{CHUNKER} ({min_chars}-{max_chars} chars)"
