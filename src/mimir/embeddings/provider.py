"""The interface every embedding provider implements (local model, OpenAI-compatible HTTP,
or none), and the error it raises when it cannot answer."""

from __future__ import annotations

from typing import Protocol

from mimir.errors import ServiceUnavailable


class EmbeddingUnavailable(ServiceUnavailable):
    """The embedding provider cannot answer now (unreachable, failing, not configured)."""

    code = "embedding_unavailable"


class EmbeddingProvider(Protocol):
    """Turns text into vectors. Implementations must be safe to call concurrently and must
    not block the event loop (run CPU work in a thread)."""

    name: str  # e.g. "local", "openai"
    model: str  # model identifier recorded in provenance and the embedding space
    dimensions: int
    distance: str  # "cosine" | "l2" | "inner_product": what the model's vectors are meant for

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Vectors for documents/chunks, in order."""
        ...

    async def embed_query(self, text: str) -> list[float]:
        """The vector for a search query (some models embed queries differently)."""
        ...
