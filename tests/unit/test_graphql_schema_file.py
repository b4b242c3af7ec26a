"""schema.graphql at the top of the repository is exactly the schema the server runs."""

from __future__ import annotations

from pathlib import Path

from mimir.config import Settings
from mimir.graphql.schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_matches_running_schema():
    """Regenerate with `poetry run mimir export-schema` when this fails."""
    running = build_schema(Settings(_env_file=None)).as_str() + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == running


def test_schema_has_the_main_entry_points():
    """The query root offers the walks users run (not an empty or stale schema)."""
    sdl = SCHEMA_FILE.read_text(encoding="utf-8")
    for field in ("artifacts(", "provenanceChain(", "traverse(", "citedBy", "lineage", "union Entity"):
        assert field in sdl
