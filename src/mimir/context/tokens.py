"""Token counting for the context endpoint, offline: the WordPiece tokenizer.json of
all-MiniLM-L6-v2 that an installed package ships (the one the local embedding model uses,
found the same way), loaded with the `tokenizers` package, without truncation and without
special tokens. Nothing is downloaded. When no package ships it, a documented
approximation is used instead (one token per 4 characters, rounded up) and the response
says so."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

APPROX_CHARS_PER_TOKEN = 4
TOKENIZER_NAME = "sentence-transformers/all-MiniLM-L6-v2 WordPiece (tokenizer.json)"
APPROXIMATION_NAME = "approximation: ceil(characters / 4)"


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of a text, and finds the longest prefix within a number of tokens."""

    name: str
    exact: bool
    note: str
    _tokenizer: Any = None

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._tokenizer is None:
            return math.ceil(len(text) / APPROX_CHARS_PER_TOKEN)
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def prefix_within(self, text: str, tokens: int) -> int:
        """How many characters of `text` from its start fit in `tokens` tokens (cut at a
        token boundary; 0 when none fits)."""
        if tokens <= 0 or not text:
            return 0
        if self._tokenizer is None:
            return min(len(text), tokens * APPROX_CHARS_PER_TOKEN)
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        if len(offsets) <= tokens:
            return len(text)
        return offsets[tokens - 1][1]


def _minilm_tokenizer() -> Any:
    from tokenizers import Tokenizer

    from mimir.embeddings.providers import _minilm_tokenizer_path

    tokenizer = Tokenizer.from_file(_minilm_tokenizer_path())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@cache
def token_counter() -> TokenCounter:
    """The counter every context request uses (loaded once per process)."""
    try:
        tokenizer = _minilm_tokenizer()
    except Exception as exc:
        return TokenCounter(
            name=APPROXIMATION_NAME, exact=False,
            note=f"no installed package ships a tokenizer.json ({type(exc).__name__}); token "
                 "counts are approximate")
    return TokenCounter(
        name=TOKENIZER_NAME, exact=True,
        note="counted offline with the `tokenizers` package and the tokenizer.json an "
             "installed package ships (no special tokens); other models' tokenizers count "
             "differently", _tokenizer=tokenizer)
