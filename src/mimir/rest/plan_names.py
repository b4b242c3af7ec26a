"""The plan's names in REST responses: where a column keeps an older name (`kind`,
`group_id`, `model` ...), a response carries the value under both names, so clients
written from the plan and older clients both read what they expect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# plan name -> the key our rows use
ARTIFACT = {"artifact_type": "kind"}
INTENT = {"intent_group_id": "group_id"}
SPAN = {"artifact_version_id": "version_id"}
PROVENANCE = {"model_id": "model", "metadata": "parameters"}
SPACE = {"embedding_model": "model"}


def with_plan_names(row: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The row with each plan name added next to the key it renames (when present)."""
    return {**row, **{plan: row[old] for plan, old in names.items() if old in row}}


def all_with_plan_names(rows: Iterable[Mapping[str, Any]], names: Mapping[str, str]
                        ) -> list[dict[str, Any]]:
    return [with_plan_names(row, names) for row in rows]
