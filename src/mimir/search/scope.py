"""What every search mode shares: the query text type, and the scope filters (entity
types, artifact kinds, sources, time range, latest versions only, limit)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from mimir.artifacts.service import ArtifactKind
from mimir.validation import Label, StrictModel, Text

MAX_QUERY_CHARS = 1000
MAX_LIMIT = 100
MAX_WINDOW = 1000  # offset + limit: how deep a client may page


class SearchEntityType(StrEnum):
    ARTIFACT_VERSION = "artifact_version"
    INTENT = "intent"
    DECISION = "decision"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the query must contain a non-blank character")
    return value


QueryText = Annotated[Text, Field(min_length=1, max_length=MAX_QUERY_CHARS),
                      AfterValidator(_not_blank)]


class SearchScope(StrictModel):
    """Which entities a search may return."""

    entity_types: list[SearchEntityType] = Field(
        default_factory=lambda: list(SearchEntityType), min_length=1, max_length=10,
        description="What to search (default: all three).",
        examples=[["artifact_version", "decision"]])
    artifact_kinds: list[ArtifactKind] | None = Field(
        default=None, min_length=1,
        description="Only versions of artifacts of these kinds (implies artifact versions only).",
        examples=[["conversation"]])
    sources: list[Label] | None = Field(
        default=None, min_length=1, max_length=100,
        description="Only versions of artifacts from these sources (implies artifact versions "
        "only).", examples=[["chatgpt_export"]])
    created_after: AwareDatetime | None = Field(
        default=None, description="Only entities created at or after this time (with timezone).",
        examples=["2026-01-01T00:00:00Z"])
    created_before: AwareDatetime | None = Field(
        default=None, description="Only entities created before this time (with timezone).",
        examples=["2027-01-01T00:00:00Z"])
    latest_only: bool = Field(
        default=True, description="Search only the latest version of each artifact.")
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT, description="Number of hits (1-100).")
    offset: int = Field(default=0, ge=0, le=MAX_WINDOW - 1, description="Hits to skip, for "
                        f"paging past the first `limit` (offset + limit at most {MAX_WINDOW}).",
                        examples=[0])


    @model_validator(mode="after")
    def _consistent(self) -> SearchScope:
        self.entity_types = list(dict.fromkeys(self.entity_types))
        if ((self.artifact_kinds or self.sources)
                and SearchEntityType.ARTIFACT_VERSION not in self.entity_types):
            raise ValueError("artifact_kinds and sources filter artifact versions; include "
                             "artifact_version in entity_types or drop them")
        if self.offset + self.limit > MAX_WINDOW:
            raise ValueError(f"offset + limit must be at most {MAX_WINDOW}")
        if (self.created_after and self.created_before
                and self.created_after >= self.created_before):
            raise ValueError("created_after must be earlier than created_before")
        return self
