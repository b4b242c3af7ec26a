"""The plan's fields that had no column, and the plan's unique intent group names.

- artifact_versions.created_by (text, nullable): who wrote the version, a user or a system.
- intents.proposed_by (text, nullable): "human" or a model identifier.
- embeddings.metadata (jsonb object, default {}): free-form properties of one vector.
- intent_groups.name is unique. Existing duplicates are kept, not refused: the oldest group
  of each name (by created_at, then id) keeps it, and every later one is renamed to
  `<name> (<its id>)`, which no other group can hold. A NOTICE gives the number renamed.
  Merged groups are renamed too (the merge trigger is off for that one statement).
  Downgrade drops the constraint and the columns; renamed groups keep their new names.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE artifact_versions ADD COLUMN created_by text;
ALTER TABLE intents ADD COLUMN proposed_by text;
ALTER TABLE embeddings ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE embeddings ADD CONSTRAINT ck_embeddings_metadata_is_object
    CHECK (jsonb_typeof(metadata) = 'object');

-- Merged groups are final (trg_intent_groups_merge); renaming a merged duplicate is the
-- one change allowed here, with the trigger off for this statement only.
ALTER TABLE intent_groups DISABLE TRIGGER trg_intent_groups_merge;
DO $$
DECLARE
    renamed integer;
BEGIN
    WITH ranked AS (
        SELECT id, row_number() OVER (PARTITION BY name ORDER BY created_at, id) AS n
          FROM intent_groups
    )
    UPDATE intent_groups g
       SET name = g.name || ' (' || g.id::text || ')', updated_at = now()
      FROM ranked r
     WHERE r.id = g.id AND r.n > 1;
    GET DIAGNOSTICS renamed = ROW_COUNT;
    IF renamed > 0 THEN
        RAISE NOTICE 'intent_groups.name is now unique: % group(s) with a repeated name were '
                     'renamed to "<name> (<id>)"', renamed;
    END IF;
END
$$;
ALTER TABLE intent_groups ENABLE TRIGGER trg_intent_groups_merge;
ALTER TABLE intent_groups ADD CONSTRAINT uq_intent_groups_name UNIQUE (name);
"""

DOWNGRADE = r"""
ALTER TABLE intent_groups DROP CONSTRAINT IF EXISTS uq_intent_groups_name;
ALTER TABLE embeddings DROP CONSTRAINT IF EXISTS ck_embeddings_metadata_is_object;
ALTER TABLE embeddings DROP COLUMN IF EXISTS metadata;
ALTER TABLE intents DROP COLUMN IF EXISTS proposed_by;
ALTER TABLE artifact_versions DROP COLUMN IF EXISTS created_by;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
