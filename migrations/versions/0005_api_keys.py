"""API keys: a SHA-256 of each key, its scope, and when it was revoked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE api_keys (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    scope text NOT NULL,
    key_hash text NOT NULL,
    key_prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT pk_api_keys PRIMARY KEY (id),
    CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash),
    CONSTRAINT ck_api_keys_scope CHECK (scope IN ('read', 'write', 'admin')),
    CONSTRAINT ck_api_keys_name_not_blank CHECK (name ~ '\\S')
);
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api_keys")
