"""`recall`: the default search (hybrid, with REST's defaults), each hit a citation.

With no embedding provider configured, or the provider unreachable, the full-text list
alone answers (REST's hybrid endpoint would refuse); the result says which was used.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from mimir.errors import Invalid, ServiceUnavailable
from mimir.mcp.citations import cite_hit
from mimir.search import text
from mimir.search.hybrid import HybridQuery, hybrid_search
from mimir.search.text import TextSearchRequest


async def recall(conn: AsyncConnection, state: Any, request: HybridQuery) -> dict[str, Any]:
    settings = state.settings
    language = getattr(settings, "search_language", text.DEFAULT_LANGUAGE)
    provider = getattr(state, "embedding_provider", None)
    space = getattr(state, "embedding_space", None)
    mode, notice = "hybrid", None
    body = None
    if provider is not None and space is not None:
        try:
            body = await hybrid_search(
                conn, request, provider, space, default_language=language,
                spare=getattr(getattr(state, "pool", None), "spare_connection", None))
        except (ServiceUnavailable, Invalid) as error:
            if isinstance(error, Invalid) and error.details.get("parameter") not in ("space", "query"):
                raise
            notice = f"semantic search unavailable ({error.message}); full-text results only"
    if body is None:
        mode = "text"
        notice = notice or "no embedding provider is configured; full-text results only"
        fields = set(TextSearchRequest.model_fields)
        body = await text.search_text(conn, TextSearchRequest(**request.model_dump(include=fields)),
                                      default_language=language)
    hits = [await cite_hit(conn, hit) for hit in body["hits"]]
    return {"query": request.query, "mode": mode, "notice": notice or body.get("notice"),
            "hits": hits}
