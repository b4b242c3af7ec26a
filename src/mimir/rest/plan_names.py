"""The plan's names and their old names in REST responses: the tables use the plan's names
(migration 0009) except where Mímir keeps its own structure (an embedding space's `model`),
and a response carries each renamed value under both names, so clients written from the
plan and older clients both read what they expect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# plan name -> old name (one of the two is the row's key)
ARTIFACT = {"artifact_type": "kind"}
INTENT = {"intent_group_id": "group_id"}
SPAN = {"artifact_version_id": "version_id"}
PROVENANCE = {"model_id": "model", "metadata": "parameters"}
SPACE = {"embedding_model": "model"}


def with_plan_names(row: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The row with each renamed value under both names (when the row has one of them)."""
    both = dict(row)
    for plan, old in names.items():
        if plan in row:
            both.setdefault(old, row[plan])
        elif old in row:
            both[plan] = row[old]
    return both


def all_with_plan_names(rows: Iterable[Mapping[str, Any]], names: Mapping[str, str]
                        ) -> list[dict[str, Any]]:
    return [with_plan_names(row, names) for row in rows]
