"""REST shim for the context endpoint: parse, call the service, render."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field

from mimir.context.service import ContextRequest, build_context
from mimir.rest.deps import Conn
from mimir.rest.examples import ResponseModel
from mimir.rest.responses import errors, json_response
from mimir.search import text

router = APIRouter(prefix="/api/v1/context", tags=["context"])


class ContextPiece(ResponseModel):
    marker: str = Field(description="The piece's citation line in `text`: its number, then "
                        "the artifact title, version and offsets (and span id), or the intent "
                        "or decision id and status.",
                        examples=["[1] Planning chat v2 chars 120-480, span "
                                  "6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e"])
    entity_type: Literal["artifact_version", "intent", "decision"] = Field(
        description="What the piece quotes: a range of a version, or an intent's or "
        "decision's statement.", examples=["artifact_version"])
    entity_id: uuid.UUID = Field(description="The version, intent or decision quoted.")
    artifact_id: uuid.UUID | None = Field(description="The version's artifact (passages "
                                          "only).")
    version_id: uuid.UUID | None = Field(description="The version the offsets point into "
                                         "(passages only).")
    version_number: int | None = Field(description="That version's number (passages only).",
                                       examples=[2])
    title: str | None = Field(description="The artifact's title (passages only).",
                              examples=["Planning chat"])
    span_id: uuid.UUID | None = Field(description="The span the piece is exactly (one "
                                      "passage, not merged, not cut); null otherwise.")
    span_ids: list[uuid.UUID] = Field(description="Every span the piece covers (several when "
                                      "overlapping passages were merged).")
    merged: bool = Field(description="True when overlapping or touching passages of the "
                         "version were merged into this piece.", examples=[False])
    start_offset: int | None = Field(description="First code point of `text` in the version's "
                                     "content (Python str index); null for statements.",
                                     examples=[120])
    end_offset: int | None = Field(description="One past the last code point: "
                                   "content[start_offset:end_offset] == text.", examples=[480])
    text: str = Field(description="The quoted text, exactly as stored.",
                      examples=["We picked PostgreSQL because the spans need exact offsets."])
    status: str | None = Field(description="The intent's or decision's status (`active`, "
                               "`tentative`; `accepted`, `proposed`); null for passages.",
                               examples=["active"])
    replaces: list[uuid.UUID] = Field(description="Superseded decisions the search found "
                                      "that this current decision stands in for.")
    truncated: bool = Field(description="True when the passage was cut at a token boundary to "
                            "fit the budget (its end_offset is where it stops).",
                            examples=[False])
    rank: int = Field(description="The best search rank among the hits behind the piece.",
                      examples=[1])
    tokens: int = Field(description="Tokens of the piece in `text` (marker line included).",
                        examples=[96])


class TokenizerInfo(ResponseModel):
    name: str = Field(description="The tokenizer that counted the tokens.",
                      examples=["sentence-transformers/all-MiniLM-L6-v2 WordPiece "
                                "(tokenizer.json)"])
    exact: bool = Field(description="False when no tokenizer was found and counts are an "
                        "approximation (one token per 4 characters).", examples=[True])
    note: str = Field(description="How the count was made and what it means.")


class LeftOut(ResponseModel):
    superseded_decisions: int = Field(description="Superseded decisions found by the search "
                                      "and left out (their current successor is quoted).",
                                      examples=[1])
    rejected_intents: int = Field(description="Rejected intents found and left out.",
                                  examples=[0])
    over_budget: int = Field(description="Pieces that did not fit the budget.", examples=[3])


class ContextResponse(ResponseModel):
    query: str = Field(description="The query as sent.", examples=["why did we pick PostgreSQL?"])
    budget: int = Field(description="The token budget asked for.", examples=[1500])
    tokens_used: int = Field(description="Tokens of `text`, counted whole; never more than "
                             "`budget`.", examples=[1432])
    tokenizer: TokenizerInfo = Field(description="Which tokenizer counted.")
    search_mode: Literal["hybrid", "text"] = Field(
        description="`hybrid` (the default search); `text` when no embedding provider is "
        "configured.", examples=["hybrid"])
    hits_considered: int = Field(description="Search hits the pieces were made from.",
                                 examples=[20])
    pieces: list[ContextPiece] = Field(description="The pieces in `text`, in order, each "
                                       "with its citation.")
    left_out: LeftOut = Field(description="What was found but not packed, and why.")
    text: str = Field(description="Ready to paste: each piece under its marker line, pieces "
                      "separated by a blank line.",
                      examples=["[1] decision 6f1c2a9e-3b0d-4d4c-9a57-1f0e2b3c4d5e (active)\n"
                                "We use PostgreSQL."])


@router.post("", summary="Cited context for a question, within a token budget",
             response_model=ContextResponse, responses=errors(400))
async def post_context(body: ContextRequest, request: Request, conn: Conn):
    """Runs the default (hybrid) search for `query` with the search filters, and packs the
    best hits into a text of at most `budget` tokens, ready to paste into a prompt.
    Overlapping passages of a version are merged; superseded decisions are left out and
    their current successor quoted instead; rejected intents are left out; current
    decisions come first, then accepted intents, then the rest by search rank. Every piece
    cites what it quotes: version id and number, artifact, code-point offsets and span id
    (passages), or the intent or decision id. Tokens are counted offline with the tokenizer
    the response names."""
    state = request.app.state
    return json_response(await build_context(
        conn, body, getattr(state, "embedding_provider", None),
        getattr(state, "embedding_space", None),
        default_language=getattr(state.settings, "search_language", text.DEFAULT_LANGUAGE),
        spare=getattr(state.pool, "spare_connection", None)))
