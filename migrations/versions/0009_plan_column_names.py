"""The plan's column names (issue 13): the tables speak the plan's names, data kept.

- artifacts.kind -> artifact_type
- spans.version_id -> artifact_version_id
- intents.group_id -> intent_group_id
- provenance.model -> model_id, provenance.parameters -> metadata

Constraints and indexes named after a renamed column are renamed with it (the names the
declared schema's naming convention gives). `RENAME COLUMN` rewrites constraint, index and
trigger column lists, but not PL/pgSQL bodies: `mimir_check_span_within_version` (0001)
reads the span's version column, so it is redefined here (and restored by the downgrade).
No other function of 0001-0008 reads a renamed column. The enum type keeps its name
(`artifact_kind`). Kept as they are (design_decisions.md says why): the embedding tables
(`embedding_spaces.model`, `embeddings.embedding`) and `search_postings.version_id`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (table, old column, new column, [(old object name, new object name, "constraint"|"index")])
RENAMES = (
    ("artifacts", "kind", "artifact_type", []),
    ("spans", "version_id", "artifact_version_id", [
        ("fk_spans_version_id_artifact_versions",
         "fk_spans_artifact_version_id_artifact_versions", "constraint"),
        ("ix_spans_version_id_start_offset", "ix_spans_artifact_version_id_start_offset",
         "index")]),
    ("intents", "group_id", "intent_group_id", [
        ("fk_intents_group_id_intent_groups", "fk_intents_intent_group_id_intent_groups",
         "constraint"),
        ("ix_intents_group_id", "ix_intents_intent_group_id", "index")]),
    ("provenance", "model", "model_id", []),
    ("provenance", "parameters", "metadata", [
        ("ck_provenance_parameters_is_object", "ck_provenance_metadata_is_object",
         "constraint")]),
)

SPAN_CHECK = r"""
CREATE OR REPLACE FUNCTION mimir_check_span_within_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    version_length integer;
BEGIN
    SELECT content_length INTO version_length FROM artifact_versions WHERE id = NEW.{column};
    IF version_length IS NOT NULL AND NEW.end_offset > version_length THEN
        RAISE EXCEPTION 'span [%, %) lies outside its version: offsets must be within [0, %]',
            NEW.start_offset, NEW.end_offset, version_length
            USING ERRCODE = 'check_violation', CONSTRAINT = 'spans_within_version';
    END IF;
    RETURN NEW;
END $$;
"""


def _rename(table: str, column: str, to: str, objects: list, forward: bool) -> None:
    old, new = (column, to) if forward else (to, column)
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
    for name, new_name, kind in objects:
        before, after = (name, new_name) if forward else (new_name, name)
        if kind == "constraint":
            op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {before} TO {after}")
        else:
            op.execute(f"ALTER INDEX {before} RENAME TO {after}")


def upgrade() -> None:
    for table, column, to, objects in RENAMES:
        _rename(table, column, to, objects, forward=True)
    op.execute(SPAN_CHECK.replace("{column}", "artifact_version_id"))


def downgrade() -> None:
    for table, column, to, objects in reversed(RENAMES):
        _rename(table, column, to, objects, forward=False)
    op.execute(SPAN_CHECK.replace("{column}", "version_id"))
