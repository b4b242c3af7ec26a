"""The export format keeps its field names where migration 0009 renamed a column: each
COPY statement of a restore fills, position by position, the column each format field
names (`FORMAT_FIELD_COLUMNS`), and each export statement writes the format's fields."""

from __future__ import annotations

import re

import pytest

from mimir.db.queries import queries
from mimir.db.tables import metadata
from mimir.transfer.mimir_format import FORMAT_FIELD_COLUMNS, TABLES


def _copy_columns(table: str) -> list[str]:
    statement = getattr(queries, f"portability_copy_{table}").sql
    listed = re.search(r"COPY\s+\w+\s*\(([^)]*)\)", statement).group(1)
    return [c.strip() for c in listed.split(",")]


def _exported_fields(table: str) -> list[str]:
    statement = getattr(queries, f"portability_export_{table}").sql
    select = re.search(r"SELECT\s+(.*?)\s+FROM\s", statement, re.S).group(1)
    return [re.split(r"\s+AS\s+", part.strip())[-1] for part in select.split(",")]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_copy_fills_the_column_each_field_names(table):
    renamed = FORMAT_FIELD_COLUMNS.get(table, {})
    expected = [renamed.get(field, field) for field in TABLES[table]]
    assert _copy_columns(table) == expected
    assert set(expected) <= set(metadata.tables[table].columns.keys())


@pytest.mark.parametrize("table", sorted(TABLES))
def test_export_writes_the_formats_fields(table):
    assert _exported_fields(table) == list(TABLES[table])


def test_renamed_columns_keep_their_format_names():
    """Files written before 0009 and by older Mímir name these fields the old way."""
    assert TABLES["artifacts"][1] == "kind" and TABLES["spans"][1] == "version_id"
    assert "group_id" in TABLES["intents"]
    assert {"model", "parameters"} <= set(TABLES["provenance"])
