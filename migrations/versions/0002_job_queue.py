"""The background job queue: procrastinate's schema (tables, types, functions, triggers,
all named `procrastinate_*`) and Mímir's `job_errors`, which keeps the error of each failed
attempt (procrastinate itself records only that an attempt failed, not why).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import re
from importlib.metadata import version

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# procrastinate's schema comes from the installed package. The version it came from is
# written on procrastinate_jobs, so that a later revision can apply exactly the files of
# procrastinate's `sql/migrations/` that are newer (mimir.jobs.service.queue_schema_version
# reads it back; the worker warns when it differs from the installed package).
PROCRASTINATE_VERSION = version("procrastinate")

JOB_ERRORS = r"""
CREATE TABLE job_errors (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    job_id bigint NOT NULL,
    attempt integer NOT NULL,
    error_type text NOT NULL,
    message text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_job_errors PRIMARY KEY (id)
);
-- No foreign key to procrastinate_jobs: that table is procrastinate's to change. The
-- prune task deletes a job's errors with the job, and orphans left by other deletions.
CREATE INDEX ix_job_errors_job_id_attempt ON job_errors (job_id, attempt);
CREATE INDEX ix_job_errors_created_at_id ON job_errors (created_at, id);
"""

# Drops whatever procrastinate created, by name prefix, so the downgrade stays right for
# any procrastinate version (its schema has grown functions and types over releases).
DOWNGRADE = r"""
DROP TABLE IF EXISTS job_errors;
DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT c.oid::regclass AS name FROM pg_class c
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
           AND c.relname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', object.name);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', object.name);
    END LOOP;
    -- Enums and free-standing composite types (a table's row type went with its table).
    FOR object IN
        SELECT t.oid::regtype AS name FROM pg_type t
         WHERE t.typnamespace = current_schema()::regnamespace
           AND t.typname LIKE 'procrastinate\_%'
           AND (t.typtype = 'e' OR (t.typtype = 'c' AND EXISTS (
                SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', object.name);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    op.execute(SchemaManager.get_schema())
    # COMMENT takes no bind parameters; the version is checked to be a plain version string.
    if not re.fullmatch(r"[0-9A-Za-z.+-]+", PROCRASTINATE_VERSION):
        raise RuntimeError(f"unexpected procrastinate version {PROCRASTINATE_VERSION!r}")
    op.execute(
        f"COMMENT ON TABLE procrastinate_jobs IS 'procrastinate {PROCRASTINATE_VERSION}'"
    )
    op.execute(JOB_ERRORS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
