"""The `mimir-export` JSON Lines format: its name, version and the tables and columns of its
records (export.py writes it, restore.py loads it into an empty database). The format is
described in docs/export-format.md.
"""

from __future__ import annotations

FORMAT_NAME = "mimir-export"
FORMAT_VERSION = 3
# Versions restore reads: version 1 lacks the fields of ADDED_IN_2 and ADDED_IN_3, version 2
# those of ADDED_IN_3 (restored as their defaults).
READABLE_VERSIONS = (1, 2, 3)

# The record types of the current format version, in the order they are written and restored (each
# table's references point to tables before it), with the fields of each record's `data`.
# Generated columns (artifact_versions.content_length, .search_vector) are not exported.
# The fields keep the names of format version 2 where migration 0009 renamed a column
# (FORMAT_FIELD_COLUMNS), so files stay readable by older and newer Mímir alike; the export
# and COPY statements of sql/portability.sql map each field to its column.
TABLES: dict[str, tuple[str, ...]] = {
    "erasures": ("id", "scope", "target", "reason", "erased_by", "counts", "derived",
                 "erased_at"),
    "artifacts": ("id", "kind", "title", "source", "external_id", "metadata", "created_at"),
    "artifact_versions": ("id", "artifact_id", "version_number", "content", "content_hash",
                          "metadata", "created_at", "created_by", "erasure_id",
                          "erased_content_length"),
    "spans": ("id", "version_id", "start_offset", "end_offset", "span_type", "label",
              "metadata", "created_at"),
    "intent_groups": ("id", "name", "description", "status", "merged_into_id", "metadata",
                      "created_at", "updated_at"),
    "intents": ("id", "statement", "status", "group_id", "confidence", "metadata",
                "created_at", "updated_at", "proposed_by"),
    "decisions": ("id", "statement", "rationale", "status", "superseded_by_id", "metadata",
                  "created_at", "updated_at"),
    "relations": ("id", "source_type", "source_id", "relation_type", "target_type",
                  "target_id", "metadata", "created_at"),
    "provenance": ("id", "target_type", "target_id", "model", "prompt_version",
                   "pipeline_version", "parameters", "created_at"),
    "provenance_evidence": ("provenance_id", "span_id", "position", "erasure_id"),
    "embedding_spaces": ("id", "name", "model", "dimensions", "distance", "metadata",
                         "created_at"),
    "embeddings": ("id", "space_id", "target_type", "target_id", "embedding", "created_at",
                   "metadata"),
}

# Fields format version 2 added (migration 0008), with the value a version 1 record gets.
ADDED_IN_2: dict[str, dict[str, object]] = {
    "artifact_versions": {"created_by": None},
    "intents": {"proposed_by": None},
    "embeddings": {"metadata": {}},
}

# Fields format version 3 added (migration 0011: erasure): a version 1 or 2 record has no
# tombstones. (Files before version 3 have no `erasures` records either.)
ADDED_IN_3: dict[str, dict[str, object]] = {
    "artifact_versions": {"erasure_id": None, "erased_content_length": None},
    "provenance_evidence": {"erasure_id": None},
}

# Format field -> the column it fills, where the names differ (migration 0009).
FORMAT_FIELD_COLUMNS: dict[str, dict[str, str]] = {
    "artifacts": {"kind": "artifact_type"},
    "spans": {"version_id": "artifact_version_id"},
    "intents": {"group_id": "intent_group_id"},
    "provenance": {"model": "model_id", "parameters": "metadata"},
}

# Columns holding a JSON object (jsonb) or a vector (a JSON array in the format).
JSON_COLUMNS = frozenset({"metadata", "parameters", "embedding", "counts", "derived"})
