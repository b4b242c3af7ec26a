"""Imports uploaded over HTTP: one row per upload, run by the background job `imports.run`,
with its status, running progress, final summary and error.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE imports (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    kind text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    filename text NOT NULL,
    file_path text NOT NULL,
    progress jsonb NOT NULL DEFAULT '{}'::jsonb,
    summary jsonb,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    CONSTRAINT pk_imports PRIMARY KEY (id),
    CONSTRAINT ck_imports_kind CHECK (kind IN ('chatgpt', 'mimir')),
    CONSTRAINT ck_imports_status CHECK (status IN ('queued', 'running', 'succeeded', 'failed'))
);
CREATE INDEX ix_imports_created_at_id ON imports (created_at, id);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS imports")
