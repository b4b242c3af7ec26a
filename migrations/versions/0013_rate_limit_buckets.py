"""A rate limit shared by every API process (issue 17): one token bucket per caller.

- rate_limit_buckets: UNLOGGED (no WAL: a bucket is a few seconds of state, and after a
  crash every caller simply starts with a full bucket; UNLOGGED tables are not replicated
  either, so a standby neither has nor needs them). One row per caller (a key's hash or
  a client address): the tokens left and when they were counted.
- mimir_rate_limit_take(caller, capacity, per_second): one token-bucket step in one
  statement (`granted` records the step's outcome for RETURNING) (INSERT ... ON CONFLICT DO UPDATE; the row lock serializes the callers of one
  key, different keys never wait on each other). Returns 0 when the request may go ahead,
  else the seconds to wait. Time is the database's clock, so processes on several
  machines agree on it. Not namespaced: a key's budget covers all its namespaces.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE UNLOGGED TABLE rate_limit_buckets (
    caller text PRIMARY KEY,
    tokens double precision NOT NULL,
    counted_at timestamptz NOT NULL,
    granted boolean NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limit_buckets TO mimir_app;

-- The tokens of a bucket at `at`: refilled at `per_second` since `counted_at`, capped.
CREATE FUNCTION mimir_rate_limit_refill(tokens double precision, counted_at timestamptz,
                                        at timestamptz, capacity double precision,
                                        per_second double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(capacity, tokens + per_second
                 * greatest(0, extract(epoch FROM at - counted_at))::double precision)
$$;

CREATE FUNCTION mimir_rate_limit_take(p_caller text, p_capacity double precision,
                                      p_per_second double precision)
RETURNS double precision
LANGUAGE sql VOLATILE AS $$
    INSERT INTO rate_limit_buckets AS b (caller, tokens, counted_at, granted)
    VALUES (p_caller, p_capacity - 1, statement_timestamp(), true)
    ON CONFLICT (caller) DO UPDATE SET
        granted = mimir_rate_limit_refill(b.tokens, b.counted_at, statement_timestamp(),
                                          p_capacity, p_per_second) >= 1,
        tokens = mimir_rate_limit_refill(b.tokens, b.counted_at, statement_timestamp(),
                                         p_capacity, p_per_second)
                 - CASE WHEN mimir_rate_limit_refill(b.tokens, b.counted_at,
                                                     statement_timestamp(), p_capacity,
                                                     p_per_second) >= 1 THEN 1 ELSE 0 END,
        counted_at = statement_timestamp()
    RETURNING CASE WHEN b.granted THEN 0::double precision
                   ELSE (1 - b.tokens) / p_per_second END
$$;
""")


def downgrade() -> None:
    op.execute("DROP FUNCTION mimir_rate_limit_take(text, double precision, double precision);\n"
                "DROP FUNCTION mimir_rate_limit_refill(double precision, timestamptz, "
                "timestamptz, double precision, double precision);\n"
                "DROP TABLE rate_limit_buckets;")
